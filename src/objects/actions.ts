import type { BooleanCapability } from '@orrery/virt-api';
import { TaskState, VmState } from './states.js';

/**
 * The catalogue of server actions: every fact about each action of POST /servers/{id}/action,
 * written once. The API's router, its policy list and its state checks (src/api/server-actions.ts),
 * the capability map (src/api/capability-check.ts), the compute manager's event names and task
 * states (src/compute/manager.ts, deferred-delete.ts), the compute RPC client's InstanceAction
 * type and docs/server-actions.md are all read from here (test/api-servers/action-catalogue.test.ts
 * checks that each entry is routed, authorised, state-checked and documented). Adding an action is
 * one entry here plus its handler (and its body schema) in src/api.
 *
 * Body schemas stay with their handlers in src/api: they are built from the API's shared schemas
 * (server-schemas.ts, resource-kit.ts), which are layer 4, and a schema that changes per
 * microversion (evacuate, os-migrateLive) is chosen by the handler for the request.
 */

type VmStateValue = (typeof VmState)[keyof typeof VmState];
type TaskStateValue = (typeof TaskState)[keyof typeof TaskState];

const V = VmState;
const T = TaskState;

// ---- the compute side: what a compute service records while it runs an action's RPC

/** One compute RPC method that carries actions. */
export interface ComputeStep {
  /** The instance-action event the compute service records around its work (null: none, a synchronous call). */
  event: string | null;
  /** The task states the compute service acts in (the one the API set, and those it moves through). */
  taskStates: readonly TaskStateValue[];
  /** Task states of the named variants (reboot's HARD), where they differ. */
  variants?: Readonly<Record<string, readonly TaskStateValue[]>>;
  /** The ComputeRpcApi method that sends it. */
  via: 'instanceAction' | 'deferredDeleteAction' | 'rebootInstance' | 'rebuildInstance' | 'snapshotInstance' | 'getConsoleOutput' | 'getConsole';
}

export const COMPUTE_STEPS = {
  stop_instance: { event: 'compute_stop_instance', taskStates: [T.POWERING_OFF], via: 'instanceAction' },
  start_instance: { event: 'compute_start_instance', taskStates: [T.POWERING_ON], via: 'instanceAction' },
  pause_instance: { event: 'compute_pause_instance', taskStates: [T.PAUSING], via: 'instanceAction' },
  unpause_instance: { event: 'compute_unpause_instance', taskStates: [T.UNPAUSING], via: 'instanceAction' },
  suspend_instance: { event: 'compute_suspend_instance', taskStates: [T.SUSPENDING], via: 'instanceAction' },
  resume_instance: { event: 'compute_resume_instance', taskStates: [T.RESUMING], via: 'instanceAction' },
  reboot_instance: {
    event: 'compute_reboot_instance', taskStates: [T.REBOOT_PENDING, T.REBOOTING],
    variants: { HARD: [T.REBOOT_PENDING_HARD, T.REBOOTING_HARD] }, via: 'rebootInstance',
  },
  rebuild_instance: { event: 'compute_rebuild_instance', taskStates: [T.REBUILDING, T.REBUILD_SPAWNING], via: 'rebuildInstance' },
  snapshot_instance: { event: 'compute_snapshot_instance', taskStates: [T.IMAGE_SNAPSHOT, T.IMAGE_UPLOADING], via: 'snapshotInstance' },
  get_console_output: { event: null, taskStates: [], via: 'getConsoleOutput' },
  /** Where a guest's remote console listens (compute RPC 1.5). */
  get_console: { event: null, taskStates: [], via: 'getConsole' },
  /** DELETE /servers/{id} (and forceDelete): the compute destroys the guest. */
  terminate_instance: { event: 'compute_terminate_instance', taskStates: [T.DELETING], via: 'instanceAction' },
  /** DELETE /servers/{id} with deferred delete: the guest powered off and kept (compute RPC 1.2). */
  soft_delete_instance: { event: 'compute_soft_delete_instance', taskStates: [T.SOFT_DELETING], via: 'deferredDeleteAction' },
  restore_instance: { event: 'compute_restore_instance', taskStates: [T.RESTORING], via: 'deferredDeleteAction' },
} as const satisfies Record<string, ComputeStep>;

export type ComputeRpc = keyof typeof COMPUTE_STEPS;

/** The compute RPC methods a ComputeRpcApi method `via` sends (compute-api.ts's InstanceAction). */
export type CarriedBy<Via extends ComputeStep['via']> = { [K in ComputeRpc]: (typeof COMPUTE_STEPS)[K]['via'] extends Via ? K : never }[ComputeRpc];

/** The event the compute service records while it runs `rpc` (a caller's error when it records none). */
export function eventOf(rpc: ComputeRpc): string {
  const event = COMPUTE_STEPS[rpc].event;
  if (event === null) throw new Error(`${rpc} records no instance action event`);
  return event;
}

/** The task states the compute service runs `rpc` in, for `variant` where it has its own. */
export function taskStatesOf(rpc: ComputeRpc, variant?: string): string[] {
  const step: ComputeStep = COMPUTE_STEPS[rpc];
  return [...((variant !== undefined ? step.variants?.[variant] : undefined) ?? step.taskStates)];
}

// ---- the API side: POST /servers/{id}/action

/** Nova's @check_instance_state of an action, and the task state it sets while it runs. */
export interface ActionStates {
  /** The vm states it is allowed from; null: any. */
  vmStates: readonly VmStateValue[] | null;
  /** The task states it is allowed from; [null]: only with no task under way; null: any. */
  taskStates: ReadonlyArray<TaskStateValue | null> | null;
  /** The task state the API sets while it runs (until the compute clears it); null: none. */
  taskState: TaskStateValue | null;
}

/** The driver capability an action needs, and how its absence is answered. */
export interface ActionCapability {
  /** The contract's boolean capability (its node trait, CAPABILITY_TRAITS). */
  needs: BooleanCapability;
  /** The operation's name in the refusal ("Cannot 'createImage' instance: …"; createBackup shares createImage's). */
  operation: string;
  /** 'async': 409, an action the instance cannot take; 'sync': 501, Nova's feature-not-supported. */
  refusal: 'async' | 'sync';
}

export interface ServerActionDef extends ActionStates {
  /** The action's name in Nova's messages ("Cannot 'stop' instance … while it is in vm_state …"). */
  name: string;
  /** The instance-action record a request writes (os-instance-actions); null: none. */
  record: string | null;
  /** Nova's policy rule, checked on the server once it is found. */
  policy: string;
  /** The microversion it appeared at; below it, "There is no such action" (400). null: 2.1. */
  since: string | null;
  /** The microversion that removed it: from it, 404 (a resource that no longer exists). */
  removedAt: string | null;
  /** Nova's @check_instance_lock: a locked instance refuses it but for an admin. */
  lock: boolean;
  /** Nova's @check_instance_host: 'first' before the state check (the power actions), 'last' after it; null: none. */
  host: 'first' | 'last' | null;
  /** Variants the body chooses (reboot's HARD), with their own states; the fields above are the default's. */
  variants?: Readonly<Record<string, ActionStates>>;
  /**
   * 'router': the lock, host, state and capability checks are plain and run before the handler;
   * 'handler': the handler runs them (checkActionAllowed) after what must come first — its body,
   * the variant the body names, or lookups Nova makes before its state check.
   */
  checkedBy: 'router' | 'handler';
  capability: ActionCapability | null;
  /** The compute RPC method that carries it; null: none reaches a compute service. */
  rpc: ComputeRpc | null;
  /** Events the API records itself (Nova's @wrap_instance_event(prefix='api')). */
  apiEvent: string | null;
  /** A value of the action's key the newest microversion accepts (docs, and the catalogue's test). */
  example: unknown;
}

/** Nova's vm_states.ALLOW_HARD_REBOOT and task_states.ALLOW_REBOOT. */
const ALLOW_HARD_REBOOT = [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED, V.ERROR];
const ALLOW_REBOOT = [null, T.REBOOTING, T.REBOOT_PENDING, T.REBOOT_STARTED, T.RESUMING, T.REBOOTING_HARD, T.UNPAUSING, T.PAUSING, T.SUSPENDING];
/** The states a snapshot (createImage, createBackup) is allowed from. */
const SNAPSHOT_STATES = [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED];
const SNAPSHOT_CAPABILITY = { needs: 'snapshot', operation: 'createImage', refusal: 'async' } as const;

/** What the entries below share unless they say otherwise: no check, no task, nothing recorded. */
const NONE = {
  since: null, removedAt: null, lock: false, host: null, vmStates: null, taskStates: null, taskState: null,
  capability: null, rpc: null, apiEvent: null, record: null, example: null,
} as const;

/** The nova-network proxies 2.44 removed; below it they are validated and answered as for a server with no ports. */
const NETWORK_PROXY = { ...NONE, checkedBy: 'router', removedAt: '2.44' } as const;

/**
 * An action that only flips a task state and casts its compute RPC (Nova's power, pause and
 * suspend actions): the lock, host and state checks are the router's, from no task under way;
 * it is recorded, and refused for want of its capability, under its own name.
 */
function simple<const Rpc extends ComputeRpc>(a: {
  name: string; policy: string; host: 'first' | 'last'; vmStates: readonly VmStateValue[]; taskState: TaskStateValue;
  needs: BooleanCapability; rpc: Rpc;
}) {
  return {
    ...NONE, name: a.name, record: a.name, policy: a.policy, lock: true, host: a.host, checkedBy: 'router',
    vmStates: a.vmStates, taskStates: [null], taskState: a.taskState, capability: { needs: a.needs, operation: a.name, refusal: 'async' }, rpc: a.rpc,
  } as const;
}

/**
 * The catalogue, in the order the route table lists the actions. Keys are the action's key in
 * the body of POST /servers/{id}/action.
 */
export const SERVER_ACTIONS = {
  'os-stop': simple({
    name: 'stop', policy: 'os_compute_api:servers:stop', host: 'first', vmStates: [V.ACTIVE, V.ERROR], taskState: T.POWERING_OFF,
    needs: 'powerControl', rpc: 'stop_instance',
  }),
  'os-start': simple({
    name: 'start', policy: 'os_compute_api:servers:start', host: 'first', vmStates: [V.STOPPED], taskState: T.POWERING_ON,
    needs: 'powerControl', rpc: 'start_instance',
  }),
  pause: simple({
    name: 'pause', policy: 'os_compute_api:os-pause-server:pause', host: 'last', vmStates: [V.ACTIVE], taskState: T.PAUSING,
    needs: 'pause', rpc: 'pause_instance',
  }),
  unpause: simple({
    name: 'unpause', policy: 'os_compute_api:os-pause-server:unpause', host: 'last', vmStates: [V.PAUSED], taskState: T.UNPAUSING,
    needs: 'pause', rpc: 'unpause_instance',
  }),
  suspend: simple({
    name: 'suspend', policy: 'os_compute_api:os-suspend-server:suspend', host: 'last', vmStates: [V.ACTIVE], taskState: T.SUSPENDING,
    needs: 'suspend', rpc: 'suspend_instance',
  }),
  resume: simple({
    name: 'resume', policy: 'os_compute_api:os-suspend-server:resume', host: 'last', vmStates: [V.SUSPENDED], taskState: T.RESUMING,
    needs: 'suspend', rpc: 'resume_instance',
  }),
  reboot: {
    // The body's type chooses the states: SOFT (the fields here, Nova's ALLOW_SOFT_REBOOT) or HARD.
    ...NONE, name: 'reboot', record: 'reboot', policy: 'os_compute_api:servers:reboot', lock: true, host: 'last', checkedBy: 'handler',
    vmStates: [V.ACTIVE], taskStates: [null], taskState: T.REBOOT_PENDING,
    variants: { HARD: { vmStates: ALLOW_HARD_REBOOT, taskStates: ALLOW_REBOOT, taskState: T.REBOOT_PENDING_HARD } },
    capability: { needs: 'reboot', operation: 'reboot', refusal: 'async' }, rpc: 'reboot_instance', example: { type: 'SOFT' },
  },
  rebuild: {
    ...NONE, name: 'rebuild', record: 'rebuild', policy: 'os_compute_api:servers:rebuild', lock: true, host: 'last', checkedBy: 'handler',
    vmStates: [V.ACTIVE, V.STOPPED, V.ERROR], taskStates: [null], taskState: T.REBUILDING,
    capability: { needs: 'rebuild', operation: 'rebuild', refusal: 'async' }, rpc: 'rebuild_instance',
    example: { imageRef: '70a599e0-31e7-49b7-b260-868f441e862b' },
  },
  createImage: {
    // Nova does not check the lock: a snapshot changes nothing of the instance.
    ...NONE, name: 'createImage', record: 'createImage', policy: 'os_compute_api:servers:create_image', host: 'last', checkedBy: 'handler',
    vmStates: SNAPSHOT_STATES, taskStates: [null], taskState: T.IMAGE_SNAPSHOT,
    capability: SNAPSHOT_CAPABILITY, rpc: 'snapshot_instance', example: { name: 'snap' },
  },
  'os-getConsoleOutput': {
    ...NONE, name: 'getConsoleOutput', policy: 'os_compute_api:os-console-output', host: 'last', checkedBy: 'handler',
    capability: { needs: 'consoleOutput', operation: 'getConsoleOutput', refusal: 'sync' }, rpc: 'get_console_output', example: {},
  },
  // The console URL actions 2.6 replaced with POST /servers/{id}/remote-consoles (api/remote-consoles.ts).
  'os-getVNCConsole': {
    ...NONE, name: 'getVNCConsole', policy: 'os_compute_api:os-remote-consoles', removedAt: '2.6', host: 'last', checkedBy: 'handler',
    capability: { needs: 'remoteConsole', operation: 'getVNCConsole', refusal: 'sync' }, rpc: 'get_console', example: { type: 'novnc' },
  },
  'os-getSerialConsole': {
    ...NONE, name: 'getSerialConsole', policy: 'os_compute_api:os-remote-consoles', removedAt: '2.6', host: 'last', checkedBy: 'handler',
    capability: { needs: 'remoteConsole', operation: 'getSerialConsole', refusal: 'sync' }, rpc: 'get_console', example: { type: 'serial' },
  },
  lock: { ...NONE, name: 'lock', record: 'lock', policy: 'os_compute_api:os-lock-server:lock', checkedBy: 'router', apiEvent: 'api_lock' },
  unlock: { ...NONE, name: 'unlock', record: 'unlock', policy: 'os_compute_api:os-lock-server:unlock', checkedBy: 'router', apiEvent: 'api_unlock' },
  'os-resetState': {
    ...NONE, name: 'resetState', record: 'resetState', policy: 'os_compute_api:os-admin-actions:reset_state', checkedBy: 'router',
    example: { state: 'active' },
  },
  forceDelete: {
    // DELETE's path, without deferring: its lock check and record are deleteServer's (servers.ts).
    ...NONE, name: 'forceDelete', record: 'delete', policy: 'os_compute_api:os-deferred-delete:force', lock: true, checkedBy: 'handler',
    taskState: T.DELETING, rpc: 'terminate_instance',
  },
  restore: {
    ...NONE, name: 'restore', record: 'restore', policy: 'os_compute_api:os-deferred-delete:restore', lock: true, checkedBy: 'router',
    vmStates: [V.SOFT_DELETED], taskStates: [null], taskState: T.RESTORING, rpc: 'restore_instance',
  },
  trigger_crash_dump: {
    // No driver declares a crash dump yet: past its checks it is refused as Nova refuses a hypervisor without it.
    ...NONE, name: 'trigger_crash_dump', policy: 'os_compute_api:servers:trigger_crash_dump', since: '2.17', lock: true, checkedBy: 'router',
    vmStates: [V.ACTIVE, V.PAUSED, V.RESCUED, V.RESIZED, V.ERROR], taskStates: [null],
  },
  addFixedIp: { ...NETWORK_PROXY, name: 'addFixedIp', policy: 'os_compute_api:os-multinic:add' },
  removeFixedIp: { ...NETWORK_PROXY, name: 'removeFixedIp', policy: 'os_compute_api:os-multinic:remove' },
  addFloatingIp: { ...NETWORK_PROXY, name: 'addFloatingIp', policy: 'os_compute_api:os-floating-ips:add' },
  removeFloatingIp: { ...NETWORK_PROXY, name: 'removeFloatingIp', policy: 'os_compute_api:os-floating-ips:remove' },
  // The server's ports through the Network API (server-network-actions.ts); not removed, unlike the proxies.
  addSecurityGroup: { ...NONE, name: 'addSecurityGroup', policy: 'os_compute_api:os-security-groups:add', checkedBy: 'router', example: { name: 'default' } },
  removeSecurityGroup: { ...NONE, name: 'removeSecurityGroup', policy: 'os_compute_api:os-security-groups:remove', checkedBy: 'router', example: { name: 'default' } },
  resize: {
    // Its body is checked first (Nova's schema), then the lock and states, then the flavor and quota.
    ...NONE, name: 'resize', record: 'resize', policy: 'os_compute_api:servers:resize', lock: true, host: 'last', checkedBy: 'handler',
    vmStates: [V.ACTIVE, V.STOPPED], taskStates: [null], taskState: T.RESIZE_PREP,
    capability: { needs: 'coldMigration', operation: 'resize', refusal: 'async' }, example: { flavorRef: '2' },
  },
  confirmResize: {
    // The move is the conductor's flow, waiting at 'verify': confirming resumes it (no task state, as in Nova).
    ...NONE, name: 'confirmResize', record: 'confirmResize', policy: 'os_compute_api:servers:confirm_resize', lock: true, checkedBy: 'router',
    vmStates: [V.RESIZED], taskStates: [null],
  },
  revertResize: {
    ...NONE, name: 'revertResize', record: 'revertResize', policy: 'os_compute_api:servers:revert_resize', lock: true, checkedBy: 'router',
    vmStates: [V.RESIZED], taskStates: [null], taskState: T.RESIZE_REVERTING,
  },
  migrate: {
    // A resize to the same flavor on another host (2.56: a named one, admin rule migrate:host).
    ...NONE, name: 'migrate', record: 'migrate', policy: 'os_compute_api:os-migrate-server:migrate', lock: true, host: 'last', checkedBy: 'handler',
    vmStates: [V.ACTIVE, V.STOPPED], taskStates: [null], taskState: T.RESIZE_PREP,
    capability: { needs: 'coldMigration', operation: 'migrate', refusal: 'async' },
  },
  createBackup: {
    ...NONE, name: 'createBackup', record: 'createBackup', policy: 'os_compute_api:os-create-backup', host: 'last', checkedBy: 'handler',
    vmStates: SNAPSHOT_STATES, taskStates: [null], taskState: T.IMAGE_SNAPSHOT,
    capability: SNAPSHOT_CAPABILITY, rpc: 'snapshot_instance', example: { name: 'nightly', backup_type: 'daily', rotation: 1 },
  },
  evacuate: {
    // Its state check comes after the named host's (Nova's controller looks the host up first),
    // then the source must be down; the conductor's 'evacuation' flow rebuilds it elsewhere.
    ...NONE, name: 'evacuate', record: 'evacuate', policy: 'os_compute_api:os-evacuate', checkedBy: 'handler',
    vmStates: [V.ACTIVE, V.STOPPED, V.ERROR], taskStates: [null], taskState: T.REBUILDING, example: {},
  },
  'os-migrateLive': {
    // Body first (its schema changes with the microversion), then the lock and states, then the named host.
    ...NONE, name: 'os-migrateLive', record: 'live-migration', policy: 'os_compute_api:os-migrate-server:migrate_live', lock: true, host: 'last',
    checkedBy: 'handler', vmStates: [V.ACTIVE, V.PAUSED], taskStates: [null], taskState: T.MIGRATING,
    capability: { needs: 'liveMigration', operation: 'os-migrateLive', refusal: 'async' }, example: { block_migration: 'auto', host: null },
  },
  shelve: {
    // The conductor's 'shelve' flow: power off, snapshot into the image the API creates, and offload when shelved_offload_time is 0.
    ...NONE, name: 'shelve', record: 'shelve', policy: 'os_compute_api:os-shelve:shelve', lock: true, host: 'last', checkedBy: 'router',
    vmStates: [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED], taskStates: [null], taskState: T.SHELVING,
    capability: { needs: 'snapshot', operation: 'shelve', refusal: 'async' },
  },
  shelveOffload: {
    ...NONE, name: 'shelveOffload', record: 'shelveOffload', policy: 'os_compute_api:os-shelve:shelve_offload', lock: true, host: 'last',
    checkedBy: 'router', vmStates: [V.SHELVED], taskStates: [null], taskState: T.SHELVING_OFFLOADING,
  },
  unshelve: {
    // Its body (2.77 zone, 2.91 host) is read first: a host asks for its own rule before the state check.
    ...NONE, name: 'unshelve', record: 'unshelve', policy: 'os_compute_api:os-shelve:unshelve', lock: true, checkedBy: 'handler',
    vmStates: [V.SHELVED, V.SHELVED_OFFLOADED], taskStates: [null], taskState: T.UNSHELVING,
  },
} as const satisfies Record<string, ServerActionDef>;

export type ServerActionKey = keyof typeof SERVER_ACTIONS;

/** Action names come from the request: an own-property check, so that `constructor` is no action. */
export function isServerAction(key: string): key is ServerActionKey {
  return Object.hasOwn(SERVER_ACTIONS, key);
}

/** The catalogue entry of `key`, as the general shape. */
export function serverAction(key: ServerActionKey): ServerActionDef {
  return SERVER_ACTIONS[key];
}

/** Every entry, in the catalogue's order. */
export function serverActions(): Array<[ServerActionKey, ServerActionDef]> {
  return Object.keys(SERVER_ACTIONS).filter(isServerAction).map((key) => [key, serverAction(key)]);
}

/** The states of `key` for `variant` (reboot's HARD), or its default's. */
export function statesOf(key: ServerActionKey, variant?: string): ActionStates {
  const a = serverAction(key);
  return (variant !== undefined ? a.variants?.[variant] : undefined) ?? a;
}
