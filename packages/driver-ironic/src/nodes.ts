/**
 * Ironic nodes as the contract's nodes and instances. A node of the configured resource class
 * is a contract node while it can hold or holds an instance: `available` (and not in
 * maintenance) or carrying an instance_uuid. It is named by its uuid (Nova's ironic driver does
 * the same: the hypervisor_hostname is the node's uuid) and offers one whole node of its class.
 */
import { PowerState, type CpuInfo, type InstanceInfo, type NodeInfo, type ResourceClass } from '@orrery/virt-api';

/** The fields of an Ironic node the driver reads (GET /v1/nodes/detail at WANTED_VERSION). */
export interface IronicNode {
  uuid: string;
  name: string | null;
  resource_class: string | null;
  provision_state: string;
  target_provision_state: string | null;
  power_state: string | null;
  target_power_state: string | null;
  maintenance: boolean;
  last_error: string | null;
  instance_uuid: string | null;
  properties: Record<string, unknown> | null;
}

/** The node's power state as Nova numbers it. */
export function powerStateOf(node: Pick<IronicNode, 'power_state'>): PowerState {
  switch (node.power_state) {
    case 'power on':
      return PowerState.RUNNING;
    case 'power off':
      return PowerState.SHUTDOWN;
    default:
      // null ("no BMC answer yet") and 'error'
      return PowerState.NOSTATE;
  }
}

/** True when the node is a contract node of class `resourceClass`. */
export function isContractNode(node: IronicNode, resourceClass: string): boolean {
  if (node.resource_class !== resourceClass) return false;
  if (node.instance_uuid) return true;
  return node.provision_state === 'available' && !node.maintenance;
}

const num = (v: unknown, fallback: number) => {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback;
};

function cpuInfoOf(props: Record<string, unknown>): CpuInfo {
  const arch = typeof props['cpu_arch'] === 'string' ? props['cpu_arch'] : 'x86_64';
  return { arch, model: 'baremetal', vendor: 'unknown', topology: { sockets: 1, cores: Math.max(1, num(props['cpus'], 1)), threads: 1 }, features: [] };
}

/**
 * The contract node of an Ironic node: one of `rc` with total 1, reserved 1 while it can take no
 * instance (maintenance, or a node without an instance that is not available, e.g. cleaning
 * again after a failure) — Nova's ironic driver does the same, so placement never picks it.
 */
export function nodeInfoOf(node: IronicNode, rc: ResourceClass, hostIp: string): NodeInfo {
  const props = node.properties ?? {};
  const free = node.provision_state === 'available' && !node.maintenance;
  const reserved = node.instance_uuid || free ? 0 : 1;
  return {
    name: node.uuid,
    uuid: node.uuid,
    hypervisorType: 'ironic',
    hypervisorVersion: 1,
    cpuInfo: cpuInfoOf(props),
    hostIp,
    inventory: { [rc]: { total: 1, reserved, minUnit: 1, maxUnit: 1, stepSize: 1, allocationRatio: 1 } },
    traits: [],
  };
}

/** The instance a node holds, or null. */
export function instanceOf(node: IronicNode): InstanceInfo | null {
  return node.instance_uuid ? { uuid: node.instance_uuid, node: node.uuid, powerState: powerStateOf(node) } : null;
}

/** Provision states in which a deploy is still running (Ironic's names). */
export const DEPLOYING = new Set(['deploying', 'wait call-back', 'deploy wait']);
/** Provision states a deploy ends in when it failed. */
export const DEPLOY_FAILED = new Set(['deploy failed', 'error']);
/** Provision states an undeploy passes through. */
export const UNDEPLOYING = new Set(['deleting', 'cleaning', 'clean wait']);
