/**
 * The conformance kit's building blocks, shared by the checks of each contract version
 * (conformance.ts, conformance-1.1.ts).
 */
import assert from 'node:assert/strict';
import type { InstanceRef, InstanceSpec } from './contract.js';
import { isDriverError, type DriverErrorCode } from './errors.js';
import type { Harness } from './conformance.js';

/** Thrown by a check that does not apply to this driver. */
export class Skip extends Error {}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const refOf = (s: InstanceSpec): InstanceRef => ({ uuid: s.uuid, node: s.node });

/** Awaits a step that must succeed; a failure names the step. */
export async function must<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const code = isDriverError(err) ? `${err.code}: ` : '';
    throw new assert.AssertionError({ message: `${what} must succeed, but raised ${code}${err instanceof Error ? err.message : String(err)}` });
  }
}

/** Awaits `p`, asserting it rejects with a DriverError of one of `codes`. */
export async function expectCode(p: Promise<unknown>, codes: DriverErrorCode | DriverErrorCode[], what: string): Promise<void> {
  const want = Array.isArray(codes) ? codes : [codes];
  try {
    await p;
  } catch (err) {
    assert.ok(isDriverError(err), `${what}: raised a non-taxonomy error: ${String(err)}`);
    assert.ok(want.includes(err.code), `${what}: raised ${err.code}, want ${want.join(' or ')}`);
    return;
  }
  assert.fail(`${what}: succeeded, want ${want.join(' or ')}`);
}

export interface Check {
  name: string;
  run(h: Harness): Promise<void>;
  /** Checks that must run before init (the handshake) set this. */
  raw?: true;
}
