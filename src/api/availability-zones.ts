import type { FastifyInstance } from 'fastify';
import { isoMicros } from '../common/time.js';
import { servicesWithZones, zonesOfServices } from '../db/aggregates.js';
import { serviceIsUp } from '../db/services.js';
import { routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/**
 * The os-availability-zone API. Zones come from services: a compute service is in its host's
 * zone, every other service in the internal zone. A zone is available while one of its
 * services is enabled (Nova's availability_zones.get_availability_zones).
 */

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;
  const internalZone = config.str('DEFAULT', 'internal_service_availability_zone');

  routeBoth(app, 'GET', '/os-availability-zone', { policy: 'os_compute_api:os-availability-zone:list' }, async () => {
    const { available, unavailable } = zonesOfServices(await servicesWithZones(db, config));
    // Users never see the internal zone.
    const entry = (zoneName: string, ok: boolean): unknown => ({ zoneName, zoneState: { available: ok }, hosts: null });
    return {
      availabilityZoneInfo: [
        ...available.filter((z) => z !== internalZone).map((z) => entry(z, true)),
        ...unavailable.filter((z) => z !== internalZone).map((z) => entry(z, false)),
      ],
    };
  });

  routeBoth(app, 'GET', '/os-availability-zone/detail', { policy: 'os_compute_api:os-availability-zone:detail' }, async () => {
    const services = await servicesWithZones(db, config);
    const { available, unavailable } = zonesOfServices(services);
    const at = Date.now();
    const info: unknown[] = available.map((zone) => {
      const hosts: Record<string, Record<string, unknown>> = {};
      for (const s of services.filter((x) => x.zone === zone && x.disabled === 0)) {
        hosts[s.host] ??= {};
        hosts[s.host]![s.binary] = { available: serviceIsUp(s, config, at), active: true, updated_at: isoMicros(s.updated_at) };
      }
      return { zoneName: zone, zoneState: { available: true }, hosts };
    });
    for (const zone of unavailable) info.push({ zoneName: zone, zoneState: { available: false }, hosts: null });
    return { availabilityZoneInfo: info };
  });
}
