import { call } from './session.js';
import type { Flavor, Image, Keypair, Network } from './types.js';

/** The lists the create form picks from, each from its own public API. */

export async function listImages(): Promise<Image[]> {
  return (await call<{ images: Image[] }>('image', 'GET', '/v2/images?limit=200&sort=name:asc')).body.images;
}

export async function listFlavors(): Promise<Flavor[]> {
  return (await call<{ flavors: Flavor[] }>('compute', 'GET', '/v2.1/flavors/detail')).body.flavors;
}

export async function listNetworks(): Promise<Network[]> {
  return (await call<{ networks: Network[] }>('network', 'GET', '/v2.0/networks')).body.networks;
}

export async function listKeypairs(): Promise<Keypair[]> {
  return (await call<{ keypairs: Array<{ keypair: Keypair }> }>('compute', 'GET', '/v2.1/os-keypairs')).body.keypairs.map((k) => k.keypair);
}

export interface Zone {
  zoneName: string;
  zoneState: { available: boolean };
}

export async function listZones(): Promise<Zone[]> {
  return (await call<{ availabilityZoneInfo: Zone[] }>('compute', 'GET', '/v2.1/os-availability-zone')).body.availabilityZoneInfo;
}
