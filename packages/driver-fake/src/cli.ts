#!/usr/bin/env node
/**
 * orrery-fake-cluster: the operator's (and a test's) hand on a fake cluster's shared back-end,
 * while the computes serving it run. Nodes added, removed or resized here are seen by every
 * compute at its next node refresh.
 *
 *   orrery-fake-cluster --state-file FILE list
 *   orrery-fake-cluster --state-file FILE add NAME [VCPU=4 MEMORY_MB=4096 DISK_GB=40 CUSTOM_X=1 …]
 *   orrery-fake-cluster --state-file FILE resize NAME VCPU=8 MEMORY_MB=8192 …
 *   orrery-fake-cluster --state-file FILE remove NAME
 *   orrery-fake-cluster --state-file FILE calls
 */
import { FakeBackend } from './backend.js';

const USAGE = 'usage: orrery-fake-cluster --state-file FILE (list | calls | add NAME [CLASS=N …] | resize NAME CLASS=N … | remove NAME)';

function totals(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const m = /^(VCPU|MEMORY_MB|DISK_GB|CUSTOM_[A-Z0-9_]+)=(\d+)$/.exec(item);
    if (!m) throw new Error(`resource totals look like VCPU=4 or CUSTOM_NAME=1, got ${JSON.stringify(item)}`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

export function run(argv: string[], out: (line: string) => void = (l) => console.log(l)): number {
  const at = argv.indexOf('--state-file');
  const file = at >= 0 ? argv[at + 1] : undefined;
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 2)] : argv;
  const [command, name, ...more] = rest;
  if (!file || !command) {
    out(USAGE);
    return 2;
  }
  const b = new FakeBackend(file);
  try {
    switch (command) {
      case 'list':
        for (const n of b.nodeInventories()) out(`${n.name} ${n.uuid} ${n.inventory ? JSON.stringify(n.inventory) : '(configured size)'}`);
        return 0;
      case 'calls':
        for (const c of b.calls()) out(`${c.at} ${c.host} ${c.op} ${c.node ?? '-'} ${c.uuid ?? '-'}`);
        return 0;
      case 'add':
        if (!name) break;
        if (!b.addNode(name, more.length > 0 ? totals(more) : null)) throw new Error(`node ${name} exists`);
        out(`added ${name}`);
        return 0;
      case 'resize':
        if (!name || more.length === 0) break;
        if (!b.setNodeInventory(name, totals(more))) throw new Error(`no node ${name}`);
        out(`resized ${name}`);
        return 0;
      case 'remove':
        if (!name) break;
        if (!b.removeNode(name)) throw new Error(`no node ${name}`);
        out(`removed ${name}`);
        return 0;
    }
    out(USAGE);
    return 2;
  } catch (err) {
    out(`orrery-fake-cluster: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    b.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) process.exitCode = run(process.argv.slice(2));
