/**
 * Ironic's provision state machine (ironic/common/states.py), the subset this service carries
 * out. The API validates a request against START, moves the node into the transient state and
 * sets the stable target in one compare-and-set, then casts to the conductors; the conductor
 * worker carries the transient state through to DONE's success (or failure) state.
 */

export const ProvisionStates = {
  ENROLL: 'enroll', VERIFYING: 'verifying', MANAGEABLE: 'manageable',
  CLEANING: 'cleaning', CLEAN_WAIT: 'clean wait', CLEAN_FAILED: 'clean failed',
  AVAILABLE: 'available', DEPLOYING: 'deploying', DEPLOY_WAIT: 'wait call-back',
  DEPLOY_FAILED: 'deploy failed', ACTIVE: 'active', DELETING: 'deleting', ERROR: 'error',
} as const;
export type ProvisionState = typeof ProvisionStates[keyof typeof ProvisionStates];

const S = ProvisionStates;

/** States a node rests in; a node in any other state has a conductor working on it. */
export const STABLE_STATES: ReadonlySet<string> = new Set([
  S.ENROLL, S.MANAGEABLE, S.AVAILABLE, S.ACTIVE, S.DEPLOY_FAILED, S.CLEAN_FAILED, S.ERROR,
]);

/**
 * The provisioning actions the conductor worker carries out (the RPC's `action`). The API's
 * verbs map onto them: `active` → deploy, `deleted` and `undeploy` → deleted.
 */
export type ProvisionAction = 'manage' | 'provide' | 'deploy' | 'deleted' | 'clean';

/** The API's `target` values of PUT /v1/nodes/{node}/states/provision that this service accepts. */
export const API_VERBS: ReadonlyMap<string, ProvisionAction> = new Map([
  ['manage', 'manage'], ['provide', 'provide'], ['active', 'deploy'],
  ['deleted', 'deleted'], ['undeploy', 'deleted'], ['clean', 'clean'],
]);

/** Ironic's verbs this service knows but does not carry out (refused as not supported, never pretended). */
export const UNSUPPORTED_VERBS: ReadonlySet<string> = new Set([
  'inspect', 'abort', 'rebuild', 'adopt', 'rescue', 'unrescue', 'service', 'unhold',
]);

export interface Start {
  /** The transient state the API moves the node into. */
  to: ProvisionState;
  /** The stable state it is heading for (target_provision_state). */
  target: ProvisionState;
}

const key = (state: string, action: ProvisionAction): string => `${state}\u0000${action}`;

const START = new Map<string, Start>([
  [key(S.ENROLL, 'manage'), { to: S.VERIFYING, target: S.MANAGEABLE }],
  [key(S.MANAGEABLE, 'provide'), { to: S.CLEANING, target: S.AVAILABLE }],
  [key(S.MANAGEABLE, 'clean'), { to: S.CLEANING, target: S.MANAGEABLE }],
  [key(S.CLEAN_FAILED, 'manage'), { to: S.MANAGEABLE, target: S.MANAGEABLE }],
  [key(S.AVAILABLE, 'manage'), { to: S.MANAGEABLE, target: S.MANAGEABLE }],
  [key(S.AVAILABLE, 'deploy'), { to: S.DEPLOYING, target: S.ACTIVE }],
  [key(S.DEPLOY_FAILED, 'deploy'), { to: S.DEPLOYING, target: S.ACTIVE }],
  [key(S.ACTIVE, 'deleted'), { to: S.DELETING, target: S.AVAILABLE }],
  [key(S.DEPLOY_FAILED, 'deleted'), { to: S.DELETING, target: S.AVAILABLE }],
  [key(S.ERROR, 'deleted'), { to: S.DELETING, target: S.AVAILABLE }],
]);

/** Where `action` takes a node in `state`, or null when Ironic's machine has no such transition. */
export function startOf(state: string, action: ProvisionAction): Start | null {
  return START.get(key(state, action)) ?? null;
}

/**
 * A transition the API completes itself: nothing to do on the hardware (available → manageable,
 * clean failed → manageable), so there is nothing to cast.
 */
export function isImmediate(start: Start): boolean {
  return STABLE_STATES.has(start.to);
}

/** Where a transient state goes when its work fails (Ironic's `fail` events). */
export const FAILURE_STATE: Readonly<Record<string, ProvisionState>> = {
  [S.VERIFYING]: S.ENROLL,
  [S.CLEANING]: S.CLEAN_FAILED,
  [S.CLEAN_WAIT]: S.CLEAN_FAILED,
  [S.DEPLOYING]: S.DEPLOY_FAILED,
  [S.DEPLOY_WAIT]: S.DEPLOY_FAILED,
  [S.DELETING]: S.ERROR,
};

/** Power states (ironic/common/states.py) and the targets PUT …/states/power accepts. */
export const PowerStates = {
  ON: 'power on', OFF: 'power off', REBOOT: 'rebooting', SOFT_OFF: 'soft power off', SOFT_REBOOT: 'soft rebooting',
} as const;
export type PowerTarget = typeof PowerStates[keyof typeof PowerStates];
export const POWER_TARGETS: ReadonlySet<string> = new Set(Object.values(PowerStates));

/** Boot devices (Ironic's boot_devices) this service can set over IPMI. */
export const BOOT_DEVICES: readonly string[] = ['pxe', 'disk'];

/** Ironic's hardware types this service drives. */
export const DRIVERS: readonly string[] = ['ipmi', 'fake-hardware'];
