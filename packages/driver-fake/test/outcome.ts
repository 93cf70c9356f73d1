// What a driver call ended with, for the fake's own tests: its error code, or 'resolved'.
import assert from 'node:assert/strict';
import { isDriverError, type DriverErrorCode } from '@orrery/virt-api';

export async function code(p: Promise<unknown>): Promise<DriverErrorCode | 'resolved'> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    assert.ok(isDriverError(err), `not a driver error: ${String(err)}`);
    return err.code;
  }
}
