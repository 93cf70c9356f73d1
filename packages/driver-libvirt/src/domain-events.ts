/**
 * libvirt's domain events as the driver's lifecycle events, the resync after the event stream
 * restarted, and the probe that proves the stream subscribed; and what `virsh` tells of the node.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { PowerState, type CpuInfo, type DriverContext, type InstanceInfo, type NodeInfo } from '@orrery/virt-api';
import type { LibvirtConfig } from './config.js';
import type { DomainEvent } from './event-stream.js';
import { inventory, UUID, type LibvirtHost } from './host.js';
import type { Virsh } from './virsh.js';

/** The power state a lifecycle event leaves a domain in, or null for events that change none. */
export function lifecyclePowerState(event: string, detail: string): PowerState | null {
  switch (event) {
    case 'Started':
    case 'Resumed':
      return PowerState.RUNNING;
    case 'Suspended':
      return PowerState.PAUSED;
    case 'Stopped':
      return detail.startsWith('Saved') ? PowerState.SUSPENDED : PowerState.SHUTDOWN;
    case 'PMSuspended':
      return PowerState.SUSPENDED;
    case 'Crashed':
      return PowerState.CRASHED;
    default:
      return null; // Defined, Undefined, Shutdown (a Stopped follows), …
  }
}

export function onDomainEvent(h: LibvirtHost, e: DomainEvent): void {
  const uuid = h.uuidOf(e.domain);
  if (!uuid) return;
  if (e.kind === 'reboot') {
    for (const w of h.rebootWaiters.get(uuid) ?? []) w();
    return;
  }
  if (e.kind !== 'lifecycle') return;
  if (e.event === 'Undefined') {
    h.known.delete(uuid);
    return;
  }
  // A guest migrating away stops here (Stopped Migrated) and is undefined: no power change of the instance.
  if (e.event === 'Stopped' && e.detail.startsWith('Migrated')) return;
  const next = lifecyclePowerState(e.event, e.detail);
  if (next !== null) h.transition(uuid, next);
}

/** After the event stream was down: report what changed meanwhile. */
export async function resync(h: LibvirtHost, list: () => Promise<InstanceInfo[]>): Promise<void> {
  const now = await list();
  const seen = new Set<string>();
  for (const i of now) {
    seen.add(i.uuid);
    h.transition(i.uuid, i.powerState);
  }
  for (const uuid of [...h.known.keys()]) if (!seen.has(uuid)) h.known.delete(uuid);
}

/** Defines and undefines a tiny never-started domain: its events prove the stream is subscribed. */
export async function probe(h: LibvirtHost, name: string): Promise<void> {
  const xml = `<domain type='qemu'><name>${name}</name><memory unit='KiB'>4096</memory><os><type>hvm</type></os></domain>`;
  const file = join(h.ctx!.stateDir, `.${name}.xml`);
  await writeFile(file, xml);
  try {
    await h.virsh!.run(['define', file]);
  } finally {
    await rm(file, { force: true });
  }
  await h.virsh!.run(['undefine', name]);
}

export async function describeNode(ctx: DriverContext, cfg: LibvirtConfig, virsh: Virsh, hv: { type: string; version: string }): Promise<NodeInfo> {
  const [info, caps] = await Promise.all([virsh.nodeinfo(), virsh.capabilities()]);
  const uuidFile = join(ctx.stateDir, 'libvirt-node-uuid');
  let uuid = (await readFile(uuidFile, 'utf8').catch(() => '')).trim();
  if (!UUID.test(uuid)) {
    uuid = randomUUID();
    await writeFile(uuidFile, `${uuid}\n`);
  }
  const [major = 0, minor = 0, micro = 0] = hv.version.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const vcpus = Number.parseInt(info['CPU(s)'] ?? '1', 10) || 1;
  const memoryMb = Math.floor((Number.parseInt(info['Memory size'] ?? '0', 10) || 0) / 1024);
  return {
    name: ctx.host,
    uuid,
    hypervisorType: hv.type,
    hypervisorVersion: major * 1_000_000 + minor * 1000 + micro,
    cpuInfo: hostCpu(caps, info),
    hostIp: cfg.hostIp,
    inventory: { VCPU: inventory(vcpus), MEMORY_MB: inventory(memoryMb), DISK_GB: inventory(1) },
    traits: [],
  };
}

/** The host CPU from `virsh capabilities` (<host><cpu>…). */
function hostCpu(capsXml: string, info: Record<string, string>): CpuInfo {
  const cpu = /<host>[\s\S]*?<cpu>([\s\S]*?)<\/cpu>/.exec(capsXml)?.[1] ?? '';
  const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(cpu)?.[1] ?? '';
  const attr = (a: string) => Number(new RegExp(`<topology[^>]*\\b${a}='(\\d+)'`).exec(cpu)?.[1] ?? 1);
  return {
    arch: tag('arch') || info['CPU model'] || 'x86_64',
    model: tag('model') || 'unknown',
    vendor: tag('vendor') || 'unknown',
    topology: { sockets: attr('sockets'), cores: attr('cores'), threads: attr('threads') },
    features: [...cpu.matchAll(/<feature name='([^']+)'/g)].map((m) => m[1]!),
  };
}
