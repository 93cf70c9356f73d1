/**
 * Errors that cross the API boundary. Each carries the HTTP status and the Nova fault name
 * (the key of Nova's error body); the API layers render them in their own body formats.
 */
export class OrreryError extends Error {
  constructor(
    readonly status: number,
    readonly faultName: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends OrreryError {
  constructor(message: string) {
    super(400, 'badRequest', message);
  }
}
export class Unauthorized extends OrreryError {
  constructor(message = 'The request you have made requires authentication.') {
    super(401, 'unauthorized', message);
  }
}
export class Forbidden extends OrreryError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}
export class NotFound extends OrreryError {
  constructor(message: string) {
    super(404, 'itemNotFound', message);
  }
}
export class Conflict extends OrreryError {
  constructor(message: string) {
    super(409, 'conflictingRequest', message);
  }
}
export class NotImplemented extends OrreryError {
  constructor(message: string) {
    super(501, 'notImplemented', message);
  }
}
/** A client that asks too often (the token endpoint's per-source limit). */
export class TooManyRequests extends OrreryError {
  constructor(message: string) {
    super(429, 'overLimit', message);
  }
}
/** A back-end this process depends on (the database, the broker) is unreachable for now: try again. */
export class ServiceUnavailable extends OrreryError {
  constructor(message: string) {
    super(503, 'serviceUnavailable', message);
  }
}
/** Over quota: Nova answers 403 forbidden. */
export class OverQuota extends OrreryError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

/** Raised over RPC; rebuilt on the caller's side from its wire form. */
export interface WireError {
  className: string;
  status?: number;
  faultName?: string;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof OrreryError) {
    return { className: err.name, status: err.status, faultName: err.faultName, message: err.message };
  }
  if (err instanceof Error) return { className: err.name || 'Error', message: err.message };
  return { className: 'Error', message: String(err) };
}

/** A remote error: OrreryErrors keep their status so the API renders them the same way. */
export class RemoteError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
    this.name = wire.className;
  }
}

export function fromWireError(wire: WireError): Error {
  if (wire.status !== undefined && wire.faultName !== undefined) {
    const err = new OrreryError(wire.status, wire.faultName, wire.message);
    err.name = wire.className;
    return err;
  }
  return new RemoteError(wire);
}

/** The HTTP status an error carries (an OrreryError, one rebuilt from RPC), if any. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The scheduler found no node that fits (Nova's NoValidHost). */
export class NoValidHost extends OrreryError {
  constructor(reason = 'There are not enough hosts available.') {
    super(409, 'conflictingRequest', `No valid host was found. ${reason}`);
  }
}
