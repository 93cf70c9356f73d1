/**
 * Contract 1.3: the instance's network plumbing (Nova's plug_vifs / unplug_vifs and interface
 * attach/detach). The network service binds each port to the instance's host
 * (binding:vif_type "bridge": Neutron's linuxbridge) and names the bridge and the tap; the
 * driver makes the guest's NIC, a tap on that bridge. The host's network agent wires the rest
 * (VXLAN, security groups, DHCP) and reports the port ACTIVE once the tap is on its bridge.
 *
 * plugVifs and unplugVifs are part of every 1.3 driver; attachInterface/detachInterface only of
 * one declaring the capability `interfaceAttach` (trait COMPUTE_NET_ATTACH_DETACH). A driver
 * that agreed a version before 1.3 is called with none of them, and its specs' ports carry the
 * 1.0 fields only (networkAt).
 */
import type { InstanceRef, InstanceSpec, NetworkInfo } from './contract.js';
import { NotSupported } from './errors.js';
import { atLeast } from './version.js';

/** The version that added the VIF fields and calls. */
export const VIFS_SINCE = '1.3';

/** A subnet of a port's fixed IPs, as the guest needs it (Nova's network_info subnets). @since 1.3 */
export interface VifSubnet {
  /** e.g. "10.0.0.0/24" or "fd00::/64". */
  cidr: string;
  /** The subnet's gateway (router) address; null when the subnet has none. */
  gateway: string | null;
  version: 4 | 6;
}

/** How a VIF is plugged (Neutron's binding:vif_type). Only linuxbridge's `bridge` exists. @since 1.3 */
export type VifType = 'bridge';

/** One port of the instance: a VIF. The fields after fixedIps are @since 1.3. */
export interface VifInfo {
  /** The port's id. */
  id: string;
  /** The port's MAC address, lower case, e.g. "fa:16:3e:12:34:56". */
  mac: string;
  networkId: string;
  /** The port's fixed IP addresses. */
  fixedIps: string[];
  /** The network's MTU: the guest NIC's MTU (1450 on VXLAN, 1500 flat). @since 1.3 */
  mtu?: number;
  /** The bridge the tap joins (binding:vif_details.bridge_name, `brq` + network id's first 11). @since 1.3 */
  bridge?: string;
  /** The tap device's name on the host (`tap` + port id's first 11). @since 1.3 */
  devName?: string;
  /** binding:vif_type; absent = 'bridge'. @since 1.3 */
  vifType?: VifType;
  /** The subnets of the port's fixed IPs. @since 1.3 */
  subnets?: VifSubnet[];
}

/**
 * The VIF calls, optional in the types (a driver of an older version still type-checks); the
 * loader demands plugVifs/unplugVifs of every 1.3 driver, and the interface calls of one that
 * declares interfaceAttach. Every call is idempotent: the compute service may repeat any of
 * them (after a restart, a retried build, a move) and gets the same result.
 */
export interface VifCalls {
  /**
   * Makes the host ready for `ports` of `ref`: the bridge of each port exists on the host (made
   * when missing, never changed when present: other guests may use it). Called before spawn,
   * finishMigration, finishRevertMigration, preLiveMigration and at the host's start for each of
   * its instances; the instance need not exist yet. NotSupported for a vifType it cannot plug.
   * @since 1.3
   */
  plugVifs?(ref: InstanceRef, ports: VifInfo[]): Promise<void>;
  /**
   * Removes what plugVifs or the guest left of `ports` on the host that is this driver's own
   * (a tap left over by a destroyed guest); never a bridge, which the network agent owns.
   * Called after destroy and after a move left the host. Nothing left: success.
   * @since 1.3
   */
  unplugVifs?(ref: InstanceRef, ports: VifInfo[]): Promise<void>;
  /**
   * Adds a NIC for `port` to the existing instance, live when it runs and persistently (it
   * survives a stop/start and a reboot). A port already attached (same id and MAC): success.
   * InstanceNotFound for a missing instance, InvalidState when its state forbids (e.g. paused
   * on a hypervisor that cannot), NotSupported for a vifType it cannot plug.
   * @since 1.3 (capability interfaceAttach)
   */
  attachInterface?(ref: InstanceRef, port: VifInfo): Promise<void>;
  /**
   * Removes the NIC of `port` from the instance, live and persistently. A port not attached:
   * success. InstanceNotFound for a missing instance.
   * @since 1.3 (capability interfaceAttach)
   */
  detachInterface?(ref: InstanceRef, port: VifInfo): Promise<void>;
}

/** The 1.0 fields of a VIF: what a driver of an older version is handed. */
export function vifBefore13(p: VifInfo): VifInfo {
  return { id: p.id, mac: p.mac, networkId: p.networkId, fixedIps: [...p.fixedIps] };
}

/** The network info as a driver of contract `version` may see it (the 1.3 fields only from 1.3). */
export function networkAt(network: NetworkInfo, version: string): NetworkInfo {
  return atLeast(version, VIFS_SINCE) ? network : { ports: network.ports.map(vifBefore13) };
}

/** The most NICs a guest is handed (a bound on every VIF list the guard passes on). */
export const MAX_VIFS = 32;

/**
 * Copies of well-formed VIFs (vifProblems; at most MAX_VIFS), or NotSupported naming `what`
 * and the first bad port: the guard's check before the driver sees them.
 */
export function checkedVifs(ports: VifInfo[], what: string): VifInfo[] {
  if (!Array.isArray(ports) || ports.length > MAX_VIFS) throw new NotSupported(`${what}: ports must be a list of at most ${MAX_VIFS} VIFs`);
  return ports.map((p, i) => {
    const problems = vifProblems(p);
    if (problems.length > 0) throw new NotSupported(`${what}: port ${i}: ${problems.join('; ')}`);
    return structuredClone(p);
  });
}

/**
 * The spec as a driver of contract `version` gets it: before 1.3 its ports carry the 1.0 fields
 * only; from 1.3 they are checked as plugVifs' are (checkedVifs).
 */
export function specAt(spec: InstanceSpec, version: string, what: string): InstanceSpec {
  const ports = spec.network?.ports ?? [];
  if (!atLeast(version, VIFS_SINCE)) return { ...spec, network: networkAt({ ports }, version) };
  return { ...spec, network: { ports: checkedVifs(ports, what) } };
}

/** Linuxbridge's names (the shared convention of the network service, its agent and drivers). */
export function bridgeNameOf(networkId: string): string {
  return `brq${networkId.slice(0, 11)}`;
}
export function tapNameOf(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

/** Linux interface names: 1–15 bytes, no '/', ':', whitespace or NUL. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * Problems with a VIF as a driver is handed it (empty when it is well-formed): the guard
 * refuses a malformed one with NotSupported before the driver sees it, so a driver may put the
 * names straight into a command line or a domain definition.
 */
export function vifProblems(p: VifInfo): string[] {
  const out: string[] = [];
  if (typeof p !== 'object' || p === null) return ['a VIF must be an object'];
  if (typeof p.id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(p.id)) out.push('id must be 1-64 letters, digits or -');
  if (typeof p.mac !== 'string' || !MAC.test(p.mac)) out.push('mac must be six hex pairs separated by :');
  if (typeof p.networkId !== 'string' || p.networkId === '' || p.networkId.length > 64) out.push('networkId must be a non-empty string');
  if (!Array.isArray(p.fixedIps) || p.fixedIps.length > 64 || p.fixedIps.some((a) => typeof a !== 'string' || a.length > 45)) {
    out.push('fixedIps must be a list of up to 64 addresses');
  }
  if (p.mtu !== undefined && !(Number.isInteger(p.mtu) && p.mtu >= 68 && p.mtu <= 65535)) out.push('mtu must be an integer 68-65535');
  if (p.bridge !== undefined && !(typeof p.bridge === 'string' && IFNAME.test(p.bridge))) out.push('bridge must be an interface name');
  if (p.devName !== undefined && !(typeof p.devName === 'string' && IFNAME.test(p.devName))) out.push('devName must be an interface name');
  if (p.vifType !== undefined && p.vifType !== 'bridge') out.push(`vifType ${String(p.vifType)} is not known (bridge)`);
  if (p.subnets !== undefined) {
    const ok = Array.isArray(p.subnets) && p.subnets.length <= 64 && p.subnets.every((s) => typeof s === 'object' && s !== null
      && typeof s.cidr === 'string' && s.cidr.length <= 49 && (s.gateway === null || (typeof s.gateway === 'string' && s.gateway.length <= 45))
      && (s.version === 4 || s.version === 6));
    if (!ok) out.push('subnets must be up to 64 of {cidr, gateway, version 4|6}');
  }
  return out;
}
