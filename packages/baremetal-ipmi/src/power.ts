/**
 * What the bare-metal conductor asks of a machine's management controller. One interface for
 * every hardware type, so the deploy and clean flows never know which one they drive.
 */

/** Power states as Ironic names them. */
export type PowerState = 'power on' | 'power off';

/** What can be asked: `reboot` is a hard reset (power on from off), `soft off` an ACPI shutdown request. */
export type PowerAction = 'on' | 'off' | 'reboot' | 'soft off';

export type BootDevice = 'pxe' | 'disk';

export interface PowerInterface {
  /** The machine's power state as its BMC reports it now. */
  getPower(): Promise<PowerState>;
  /** Carries out `action`; resolves when the BMC accepted it (a soft off may take the OS a while). */
  setPower(action: PowerAction): Promise<void>;
  /** The device the machine boots from at its next boot; `persistent` keeps it for every boot after. */
  setBootDevice(device: BootDevice, persistent: boolean): Promise<void>;
}

/** Why a BMC call failed: the conductor records it in the node's last_error and history. */
export type BmcErrorKind = 'unreachable' | 'auth_failed' | 'refused' | 'timeout';

/** Base of the taxonomy; the message never carries a password. */
export class BmcError extends Error {
  constructor(readonly kind: BmcErrorKind, message: string) {
    super(message);
    this.name = 'BmcError';
  }
}

/** No answer from the BMC's address (nothing listens, or the network drops it). */
export class BmcUnreachable extends BmcError {
  constructor(message: string) {
    super('unreachable', message);
    this.name = 'BmcUnreachable';
  }
}

/** The BMC answered but refused the credentials. */
export class BmcAuthFailed extends BmcError {
  constructor(message: string) {
    super('auth_failed', message);
    this.name = 'BmcAuthFailed';
  }
}

/** The BMC took the session but refused the command (unsupported, invalid data, not permitted). */
export class BmcRefused extends BmcError {
  constructor(message: string) {
    super('refused', message);
    this.name = 'BmcRefused';
  }
}

/** The call did not finish within its deadline. */
export class BmcTimeout extends BmcError {
  constructor(message: string) {
    super('timeout', message);
    this.name = 'BmcTimeout';
  }
}
