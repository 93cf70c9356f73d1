/**
 * The conformance checks of contract 1.4's remote consoles. They apply only to a driver that
 * agrees 1.4 and declares remoteConsole. What the endpoint serves is checked from outside the
 * driver, over TCP: a VNC console greets with RFB's ProtocolVersion ("RFB 003.00x\n"); a serial
 * console accepts a connection and carries bytes (what a guest prints depends on the guest).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Harness } from './conformance.js';
import { expectCode, must, refOf, Skip, type Check } from './conformance-steps.js';
import { CONSOLE_KINDS, type ConsoleEndpoint, type ConsoleKind } from './consoles.js';
import { PowerState } from './contract.js';
import { agreeContract, atLeast } from './version.js';

/** The kinds declared by a 1.4 driver with remoteConsole; Skip otherwise. */
function declaredKinds(h: Harness): ConsoleKind[] {
  let version: string;
  try {
    version = agreeContract(h.driver.version()).version;
  } catch (err) {
    throw new Skip(`no agreed contract (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!atLeast(version, '1.4')) throw new Skip(`the driver agrees contract ${version}`);
  if (h.caps.remoteConsole !== true) throw new Skip('the driver does not declare remoteConsole');
  assert.equal(typeof h.driver.getConsole, 'function', 'a driver declaring remoteConsole has getConsole');
  return h.caps.consoleKinds ?? [];
}

/** The first bytes the endpoint sends within `ms` (empty when it sends none), after connecting. */
export function firstBytes(e: ConsoleEndpoint, want: number, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: e.host, port: e.port });
    const parts: Buffer[] = [];
    let n = 0;
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(parts));
    };
    const timer = setTimeout(done, ms);
    sock.on('data', (b: Buffer) => {
      parts.push(b);
      n += b.length;
      if (n >= want) done();
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export const CHECKS_1_4: Check[] = [
  {
    name: '1.4: each declared console kind of a running guest is a reachable endpoint (VNC greets with RFB)',
    async run(h) {
      const kinds = declaredKinds(h);
      const s = await h.spawn();
      const ref = refOf(s);
      for (const kind of kinds) {
        const e = await must(h.driver.getConsole!(ref, kind), `getConsole(${kind})`);
        assert.equal(e.kind, kind, `getConsole(${kind}) answers its kind`);
        assert.ok(Number.isInteger(e.port) && e.port > 0 && e.port < 65536, `getConsole(${kind}) answers a port`);
        if (kind === 'vnc') assert.match((await firstBytes(e, 12)).toString('latin1'), /^RFB \d{3}\.\d{3}\n/, 'the VNC endpoint greets with RFB');
        else await must(firstBytes(e, 1, 200), `a connection to the ${kind} endpoint`);
        const again = await must(h.driver.getConsole!(ref, kind), `a second getConsole(${kind})`);
        assert.deepEqual([again.host, again.port], [e.host, e.port], `getConsole(${kind}) twice on a running guest`);
      }
      await h.expectState(ref, PowerState.RUNNING, 'getConsole()');
      for (const kind of CONSOLE_KINDS.filter((k) => !kinds.includes(k))) {
        await expectCode(h.driver.getConsole!(ref, kind), 'NotSupported', `getConsole(${kind}) of a kind not declared`);
      }
      await h.driver.destroy(ref);
      await expectCode(h.driver.getConsole!(ref, kinds[0]!), 'InstanceNotFound', 'getConsole() of a destroyed instance');
      await h.assertNoLeaks([s.uuid]);
    },
  },
  {
    name: '1.4: a guest that does not run has no console (InvalidState)',
    async run(h) {
      const kinds = declaredKinds(h);
      if (!h.caps.powerControl) throw new Skip('the driver does not declare powerControl');
      const s = await h.spawn();
      const ref = refOf(s);
      await h.driver.powerOff(ref, 0);
      await expectCode(h.driver.getConsole!(ref, kinds[0]!), 'InvalidState', 'getConsole() of a stopped guest');
      await h.driver.powerOn(ref);
      await must(h.driver.getConsole!(ref, kinds[0]!), 'getConsole() after powerOn');
      await h.driver.destroy(ref);
      await h.assertNoLeaks([s.uuid]);
    },
  },
];
