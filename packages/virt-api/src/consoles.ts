/**
 * Contract 1.4: interactive remote consoles (Nova's get_vnc_console / get_serial_console). The
 * driver answers where a console of a running guest listens — a TCP endpoint on the compute
 * host speaking RFB (VNC) or a raw serial byte stream — and the API's token-checked websocket
 * proxy connects to it. The driver never sees a user or a token: it only says where.
 *
 * getConsole is part of a 1.4 driver that declares the capability `remoteConsole` (trait
 * COMPUTE_REMOTE_CONSOLE) with the kinds it offers in `consoleKinds`; the guard refuses a kind
 * not declared (NotSupported) before the driver is called, and checks the endpoint it answers.
 */
import type { InstanceRef } from './contract.js';
import { DriverFault } from './errors.js';

/** The version that added remote consoles. */
export const CONSOLES_SINCE = '1.4';

/** The console kinds of the contract: RFB (VNC, what noVNC speaks) and the guest's first serial port. @since 1.4 */
export const CONSOLE_KINDS = ['vnc', 'serial'] as const;
export type ConsoleKind = (typeof CONSOLE_KINDS)[number];

/** Where one console of a guest listens, as the compute host sees it. @since 1.4 */
export interface ConsoleEndpoint {
  kind: ConsoleKind;
  /**
   * The address the console proxy connects to: an IP literal or a host name, e.g. "127.0.0.1"
   * for a hypervisor that listens on loopback (then the proxy must run on the compute host).
   */
  host: string;
  /** The TCP port, 1–65535. */
  port: number;
  /** A path the proxy sends after connecting (Nova's internal_access_path); null: none. */
  internalAccessPath: string | null;
}

/** The console call, optional in the types (a driver of an older version still type-checks). */
export interface ConsoleCalls {
  /**
   * Where the `kind` console of the running instance listens. The endpoint stays valid while the
   * guest runs (a reboot may change it: the proxy asks again for each new connection). Several
   * clients may connect at once where the back-end allows it. InstanceNotFound for a missing
   * instance, InvalidState when the guest does not run (no console to reach), NotSupported
   * for a kind the driver did not declare.
   * @since 1.4 (capability remoteConsole)
   */
  getConsole?(ref: InstanceRef, kind: ConsoleKind): Promise<ConsoleEndpoint>;
}

/** True for a console kind of this contract. */
export function isConsoleKind(kind: unknown): kind is ConsoleKind {
  return typeof kind === 'string' && (CONSOLE_KINDS as readonly string[]).includes(kind);
}

/** Problems with a `consoleKinds` declaration (empty when well-formed, or absent). */
export function consoleKindsProblems(kinds: unknown, declared: boolean): string[] {
  if (kinds === undefined) return declared ? ['remoteConsole needs consoleKinds: the kinds offered (vnc, serial)'] : [];
  if (!Array.isArray(kinds) || kinds.length === 0 || kinds.length > CONSOLE_KINDS.length || !kinds.every(isConsoleKind)) {
    return [`consoleKinds must list 1-${CONSOLE_KINDS.length} of ${CONSOLE_KINDS.join(', ')}`];
  }
  return [];
}

const HOST = /^[A-Za-z0-9.:_-]{1,253}$/;

/** The endpoint as the guard passes it on: a well-formed copy of the `kind` asked for, or DriverFault naming `what`. */
export function checkedEndpoint(e: ConsoleEndpoint, kind: ConsoleKind, what: string): ConsoleEndpoint {
  const ok = typeof e === 'object' && e !== null && e.kind === kind && typeof e.host === 'string' && HOST.test(e.host)
    && Number.isInteger(e.port) && e.port >= 1 && e.port <= 65535
    && (e.internalAccessPath === null || e.internalAccessPath === undefined
      || (typeof e.internalAccessPath === 'string' && e.internalAccessPath.length <= 255 && !e.internalAccessPath.includes('\0')));
  if (!ok) throw new DriverFault(`${what}: the driver answered a malformed ${kind} console endpoint`, { method: 'getConsole' });
  return { kind, host: e.host, port: e.port, internalAccessPath: e.internalAccessPath ?? null };
}
