import type { BmNodeRow } from '../db/baremetal-nodes.js';
import type { BmPortRow } from '../db/baremetal-ports.js';
import { maskedDriverInfo, type Json, type Sealer } from './driver-info.js';
import { ProvisionStates } from './states.js';

/**
 * Nodes and ports as the Bare Metal API shows them, field by field with the microversion that
 * added each (Ironic's api/controllers/v1/node.py): a client at 1.N sees the fields of 1.N.
 */

/** The hardware interfaces each hardware type has here (Ironic's defaults for ipmi; fake-hardware's fakes). */
export const INTERFACES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  ipmi: {
    boot_interface: 'ipxe', console_interface: 'no-console', deploy_interface: 'ramdisk', inspect_interface: 'no-inspect',
    management_interface: 'ipmitool', power_interface: 'ipmitool', raid_interface: 'no-raid', vendor_interface: 'no-vendor',
  },
  'fake-hardware': {
    boot_interface: 'fake', console_interface: 'no-console', deploy_interface: 'fake', inspect_interface: 'no-inspect',
    management_interface: 'fake', power_interface: 'fake', raid_interface: 'no-raid', vendor_interface: 'no-vendor',
  },
};

const json = (text: string): Json => JSON.parse(text) as Json;

type Field = [name: string, since: number, value: (n: BmNodeRow, ctx: ViewContext) => unknown];

export interface ViewContext { keys: Sealer; base: string }

const NODE_FIELDS: readonly Field[] = [
  ['uuid', 1, (n) => n.uuid],
  ['name', 5, (n) => n.name],
  ['driver', 1, (n) => n.driver],
  ['driver_info', 1, (n, c) => maskedDriverInfo(c.keys, n.uuid, n)],
  ['driver_internal_info', 3, () => ({})],
  ['properties', 1, (n) => json(n.properties)],
  ['extra', 1, (n) => json(n.extra)],
  ['instance_uuid', 1, (n) => n.instance_uuid],
  ['instance_info', 1, (n) => json(n.instance_info)],
  ['chassis_uuid', 1, () => null],
  ['power_state', 1, (n) => n.power_state],
  ['target_power_state', 1, (n) => n.target_power_state],
  ['provision_state', 1, (n) => n.provision_state],
  ['target_provision_state', 1, (n) => n.target_provision_state],
  ['provision_updated_at', 1, (n) => n.provision_updated_at],
  ['maintenance', 1, (n) => n.maintenance === 1],
  ['maintenance_reason', 1, (n) => n.maintenance_reason],
  ['last_error', 1, (n) => n.last_error],
  ['reservation', 1, (n) => n.reservation],
  ['console_enabled', 1, () => false],
  ['inspection_started_at', 6, () => null],
  ['inspection_finished_at', 6, () => null],
  ['clean_step', 7, () => ({})],
  ['raid_config', 12, () => ({})],
  ['target_raid_config', 12, () => ({})],
  ['network_interface', 20, () => 'noop'],
  ['resource_class', 21, (n) => n.resource_class],
  ['boot_interface', 31, (n) => iface(n, 'boot_interface')],
  ['console_interface', 31, (n) => iface(n, 'console_interface')],
  ['deploy_interface', 31, (n) => iface(n, 'deploy_interface')],
  ['inspect_interface', 31, (n) => iface(n, 'inspect_interface')],
  ['management_interface', 31, (n) => iface(n, 'management_interface')],
  ['power_interface', 31, (n) => iface(n, 'power_interface')],
  ['raid_interface', 31, (n) => iface(n, 'raid_interface')],
  ['vendor_interface', 31, (n) => iface(n, 'vendor_interface')],
  ['storage_interface', 33, () => 'noop'],
  ['traits', 37, () => []],
  ['rescue_interface', 38, () => 'no-rescue'],
  ['bios_interface', 40, () => 'no-bios'],
  ['fault', 42, () => null],
  ['deploy_step', 44, () => ({})],
  ['conductor_group', 46, () => ''],
  ['created_at', 1, (n) => n.created_at],
  ['updated_at', 1, (n) => n.updated_at],
];

function iface(n: BmNodeRow, name: string): string | null {
  return INTERFACES[n.driver]?.[name] ?? null;
}

/** The node fields a client at 1.`minor` may ask for (`fields=`). */
export function nodeFieldsAt(minor: number): Set<string> {
  return new Set(NODE_FIELDS.filter(([, since]) => since <= minor).map(([name]) => name));
}

/** The fields `node list` shows without ?detail (Ironic's default list view). */
const LIST_FIELDS = ['uuid', 'name', 'instance_uuid', 'power_state', 'provision_state', 'maintenance'];

/**
 * A node at 1.`minor`: every field (or only `fields`), with its links. Before 1.2 `available`
 * was shown as null (Ironic's NOSTATE).
 */
export function nodeView(n: BmNodeRow, minor: number, ctx: ViewContext, fields?: readonly string[] | 'list'): Json {
  const wanted = fields === 'list' ? new Set(LIST_FIELDS) : fields ? new Set(fields) : null;
  const out: Json = {};
  for (const [name, since, value] of NODE_FIELDS) {
    if (since > minor || (wanted && !wanted.has(name))) continue;
    out[name] = value(n, ctx);
  }
  if (minor < 2 && out.provision_state === ProvisionStates.AVAILABLE) out.provision_state = null;
  out.links = [{ href: `${ctx.base}/v1/nodes/${n.uuid}`, rel: 'self' }, { href: `${ctx.base}/nodes/${n.uuid}`, rel: 'bookmark' }];
  if (!wanted) out.ports = [{ href: `${ctx.base}/v1/nodes/${n.uuid}/ports`, rel: 'self' }, { href: `${ctx.base}/nodes/${n.uuid}/ports`, rel: 'bookmark' }];
  return out;
}

/** GET /v1/nodes/{node}/states. */
export function statesView(n: BmNodeRow, minor: number): Json {
  const out: Json = {
    console_enabled: false, last_error: n.last_error, power_state: n.power_state, provision_state: n.provision_state,
    provision_updated_at: n.provision_updated_at, target_power_state: n.target_power_state, target_provision_state: n.target_provision_state,
  };
  if (minor >= 12) {
    out.raid_config = {};
    out.target_raid_config = {};
  }
  return out;
}

const PORT_FIELDS: readonly [string, number, (p: BmPortRow) => unknown][] = [
  ['uuid', 1, (p) => p.uuid],
  ['address', 1, (p) => p.address],
  ['node_uuid', 1, (p) => p.node_uuid],
  ['extra', 1, (p) => json(p.extra)],
  ['internal_info', 18, () => ({})],
  ['local_link_connection', 19, () => ({})],
  ['pxe_enabled', 19, (p) => p.pxe_enabled === 1],
  ['portgroup_uuid', 24, () => null],
  ['physical_network', 34, () => null],
  ['created_at', 1, (p) => p.created_at],
  ['updated_at', 1, (p) => p.updated_at],
];

export function portFieldsAt(minor: number): Set<string> {
  return new Set(PORT_FIELDS.filter(([, since]) => since <= minor).map(([name]) => name));
}

export function portView(p: BmPortRow, minor: number, base: string, fields?: readonly string[] | 'list'): Json {
  const wanted = fields === 'list' ? new Set(['uuid', 'address']) : fields ? new Set(fields) : null;
  const out: Json = {};
  for (const [name, since, value] of PORT_FIELDS) {
    if (since > minor || (wanted && !wanted.has(name))) continue;
    out[name] = value(p);
  }
  out.links = [{ href: `${base}/v1/ports/${p.uuid}`, rel: 'self' }, { href: `${base}/ports/${p.uuid}`, rel: 'bookmark' }];
  return out;
}
