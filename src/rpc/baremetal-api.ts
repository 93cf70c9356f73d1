import { Type, type TLiteral, type TUnion } from '@sinclair/typebox';
import type { Bus, RpcContext } from './bus.js';
import { cast, defineApi, Str, type ApiSignatures, type Handlers } from './definition.js';
import { RpcClient } from './dispatch.js';

export const BAREMETAL_TOPIC = 'baremetal';
export const BAREMETAL_RPC_VERSION = '1.0';

/** Power targets of `PUT /v1/nodes/{node}/states/power` (Ironic's names). */
export const POWER_TARGETS = ['power on', 'power off', 'rebooting', 'soft power off', 'soft rebooting'] as const;
export type PowerTarget = (typeof POWER_TARGETS)[number];

/**
 * The provision actions the worker carries out (src/baremetal/states.ts maps the API's verbs
 * onto them: `active` → deploy, `undeploy` → deleted). Inspection is not among them: the API
 * refuses it rather than pretending.
 */
export const PROVISION_ACTIONS = ['manage', 'provide', 'deploy', 'deleted', 'clean'] as const;
export type ProvisionAction = (typeof PROVISION_ACTIONS)[number];

/** Boot devices of `PUT /v1/nodes/{node}/management/boot_device`. */
export const BOOT_DEVICES = ['pxe', 'disk'] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];

const literals = <T extends string>(values: readonly T[]): TUnion<Array<TLiteral<T>>> => Type.Union(values.map((v) => Type.Literal(v)));

/**
 * Bare Metal conductor RPC API, served by every conductor on topic `baremetal` (casts: one
 * conductor takes each). The API validates the transition and sets the node's `target_*`
 * before casting; the receiving worker takes the node's lock, carries the action out step by
 * step and records each step in the node's history.
 * 1.0: change_power_state(node, target), do_provisioning_action(node, action),
 *      set_boot_device(node, device, persistent).
 */
export const BAREMETAL_API = defineApi('baremetal', BAREMETAL_RPC_VERSION, {
  /** Powers the node to `target`; ends with target_power_state cleared and power_state read back from the BMC. */
  change_power_state: cast({
    args: Type.Object({ node: Str, target: literals(POWER_TARGETS) }),
    encode: (a: { node: string; target: PowerTarget }) => ({ node: a.node, target: a.target }),
    decode: (w) => ({ node: w.node, target: w.target }),
  }),
  /** Carries out a provision action whose transition the API accepted (the node is in its `*ing` state). */
  do_provisioning_action: cast({
    args: Type.Object({ node: Str, action: literals(PROVISION_ACTIONS) }),
    encode: (a: { node: string; action: ProvisionAction }) => ({ node: a.node, action: a.action }),
    decode: (w) => ({ node: w.node, action: w.action }),
  }),
  /** Sets the node's next boot device through its BMC. */
  set_boot_device: cast({
    args: Type.Object({ node: Str, device: literals(BOOT_DEVICES), persistent: Type.Boolean() }),
    encode: (a: { node: string; device: BootDevice; persistent: boolean }) => ({ node: a.node, device: a.device, persistent: a.persistent }),
    decode: (w) => ({ node: w.node, device: w.device, persistent: w.persistent }),
  }),
});

/** What the bare-metal worker serves: one handler per method of BAREMETAL_API. */
export type BaremetalHandlers = Handlers<ApiSignatures<typeof BAREMETAL_API>>;

export class BaremetalRpcApi extends RpcClient<ApiSignatures<typeof BAREMETAL_API>> {
  constructor(bus: Bus, timeoutMs: number) {
    super(bus, BAREMETAL_API, timeoutMs);
  }

  /** `node` is the node's uuid. */
  changePowerState(ctx: RpcContext, node: string, target: PowerTarget): Promise<void> {
    return this.send(BAREMETAL_TOPIC, ctx, 'change_power_state', { node, target });
  }

  doProvisioningAction(ctx: RpcContext, node: string, action: ProvisionAction): Promise<void> {
    return this.send(BAREMETAL_TOPIC, ctx, 'do_provisioning_action', { node, action });
  }

  setBootDevice(ctx: RpcContext, node: string, device: BootDevice, persistent: boolean): Promise<void> {
    return this.send(BAREMETAL_TOPIC, ctx, 'set_boot_device', { node, device, persistent });
  }
}
