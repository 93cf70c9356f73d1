/**
 * Remote consoles of libvirt guests (contract 1.4): where the VNC server QEMU runs for the
 * guest listens (libvirt's autoport: 5900 and up, read back from the live definition) and
 * where its ttyS0 listens as a TCP server (a port this driver gives the guest when it defines
 * it, from serial_port_range, as Nova's libvirt driver does from [serial_console] port_range).
 */
import { createServer } from 'node:net';
import { InvalidState, PowerState, type ConsoleEndpoint, type ConsoleKind, type InstanceRef } from '@orrery/virt-api';
import type { LibvirtHost } from './host.js';

/** Serial ports this process handed out and has not seen freed; a port is never given twice while it may be in use. */
const given = new Set<number>();

/** True when nothing listens on `host`:`port` of this network namespace (QEMU holds a running guest's). */
function free(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * A serial port for a guest being defined: a random one of the range that this process has not
 * given and, when libvirtd shares this network namespace, that nothing listens on. A stopped
 * guest holds no port, so a port can come back to it taken after a restart of this process:
 * its start then fails, as with Nova's.
 */
export async function serialPortFor(h: LibvirtHost): Promise<number> {
  const cfg = h.requireCfg();
  const { min, max } = cfg.serialPortRange;
  const size = max - min + 1;
  const start = Math.floor(Math.random() * size);
  // Bounded: at most 64 probes, then any port not given (the range is far bigger than a host's guests).
  for (let i = 0; i < Math.min(size, 64); i++) {
    const port = min + ((start + i) % size);
    if (given.has(port)) continue;
    if (cfg.hostNetns === '' && !(await free(cfg.consoleListen, port))) continue;
    given.add(port);
    return port;
  }
  for (let i = 0; i < size; i++) {
    const port = min + ((start + i) % size);
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`libvirt driver: every port of serial_port_range ${min}:${max} is given`);
}

/** Forgets the port of a guest that is gone (its definition removed). */
export function releaseSerialPort(port: number | null): void {
  if (port !== null) given.delete(port);
}

/** The serial port in a domain definition (`<source mode='bind' … service='N'/>` of the TCP serial), or null. */
export function serialPortIn(xml: string): number | null {
  const serial = /<serial type='tcp'>[\s\S]*?<\/serial>/.exec(xml)?.[0] ?? /<serial type="tcp">[\s\S]*?<\/serial>/.exec(xml)?.[0];
  const port = serial && /service=['"](\d{1,5})['"]/.exec(serial)?.[1];
  return port ? Number(port) : null;
}

/** The VNC port of a running domain's live definition (autoport fills it in), or null. */
export function vncPortIn(xml: string): number | null {
  const g = /<graphics\b[^>]*type=['"]vnc['"][^>]*>/.exec(xml)?.[0];
  const port = g && /\bport=['"](\d{1,5})['"]/.exec(g)?.[1];
  return port && Number(port) > 0 ? Number(port) : null;
}

export async function getConsole(h: LibvirtHost, ref: InstanceRef, kind: ConsoleKind): Promise<ConsoleEndpoint> {
  const st = await h.status(ref);
  if (st.powerState !== PowerState.RUNNING) throw new InvalidState(`instance ${ref.uuid} does not run: it has no console`);
  const xml = await h.virshOn(ref.uuid, ['dumpxml', h.domainName(ref.uuid)]);
  const port = kind === 'vnc' ? vncPortIn(xml) : serialPortIn(xml);
  // A guest defined before consoles existed (a pty serial, no graphics) has none until it is defined again.
  if (port === null) throw new InvalidState(`instance ${ref.uuid} was defined without a ${kind} console`);
  return { kind, host: h.requireCfg().consoleListen, port, internalAccessPath: null };
}
