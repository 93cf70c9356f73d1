import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MAX_MICROVERSION } from '../../src/api/microversion.js';
import { POLICY_DEFAULT_SETS } from '../../src/cmd/policies.js';
import { COMPUTE_STEPS, serverActions, type ActionStates, type ComputeStep, type ServerActionDef } from '../../src/objects/actions.js';
import { TaskState, VmState } from '../../src/objects/states.js';
import { call, createServer, placeOnNode, startHarness, type Harness } from './harness.js';

/**
 * Every entry of the server action catalogue (src/objects/actions.ts) is routed (the action
 * router knows it from its microversion on), authorised (its rule is a registered default and
 * one of the route's action rules), state-checked (a request in a state it is not allowed from
 * is 409 in Nova's words), and documented (docs/server-actions.md's table is generated from it:
 * when it drifts, this test prints the table as it should read).
 */

const START = '<!-- server-actions:start -->';
const END = '<!-- server-actions:end -->';
const PAGE = new URL('../../docs/server-actions.md', import.meta.url);

const code = (s: string): string => `\`${s}\``;
const list = (xs: readonly string[]): string => xs.map(code).join(', ');

function vmStatesCell(s: ActionStates): string {
  return s.vmStates === null ? 'any' : list(s.vmStates);
}

function taskStatesCell(s: ActionStates): string {
  if (s.taskStates === null) return 'any';
  return s.taskStates.map((t) => (t === null ? 'none' : code(t))).join(', ');
}

function eventsCell(a: ServerActionDef): string {
  const step: ComputeStep | null = a.rpc === null ? null : COMPUTE_STEPS[a.rpc];
  const events = [...(a.apiEvent !== null ? [a.apiEvent] : []), ...(step?.event ? [step.event] : [])];
  return events.length > 0 ? list(events) : '—';
}

function sinceCell(a: ServerActionDef): string {
  const since = a.since ?? '2.1';
  return a.removedAt !== null ? `${since} (404 from ${a.removedAt})` : since;
}

const HOST: Record<string, string> = { first: 'first', last: 'yes' };

/** The table of docs/server-actions.md, from the catalogue. */
function catalogueTable(): string {
  const rows = [
    '| Action | Microversion | Policy rule | Lock | Host | Allowed vm states | Allowed task states | Task state while it runs | Record | Events | Capability | Compute RPC |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [key, a] of serverActions()) {
    const variants: Array<[string, ActionStates]> = [['', a], ...Object.entries(a.variants ?? {}).map(([v, s]): [string, ActionStates] => [` (${v})`, s])];
    for (const [variant, s] of variants) {
      rows.push(`| ${code(key)}${variant} | ${sinceCell(a)} | ${code(a.policy)} | ${a.lock ? 'yes' : 'no'} | ${a.host === null ? 'no' : HOST[a.host]} | ${vmStatesCell(s)} | ${taskStatesCell(s)} | ${
        s.taskState === null ? '—' : code(s.taskState)} | ${a.record === null ? '—' : code(a.record)} | ${eventsCell(a)} | ${
        a.capability === null ? '—' : `${code(a.capability.needs)}${a.capability.refusal === 'sync' ? ' (501)' : ''}`} | ${a.rpc === null ? '—' : code(a.rpc)} |`);
    }
  }
  return rows.join('\n');
}

/** The microversion just below `v` (2.17 → 2.16). */
function below(v: string): string {
  const [major, minor] = v.split('.').map(Number);
  return `${major}.${minor! - 1}`;
}

describe('the server action catalogue', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '1000', cores: '2000', ram: '10000000' } });
  });
  after(async () => h?.close());

  const act = (id: string, key: string, value: unknown, mv: string) => call(h, h.admin, 'POST', `/v2.1/servers/${id}/action`, { [key]: value }, mv);
  const route = () => {
    const r = h.compute.routeTable.find((x) => x.method === 'POST' && x.url === '/v2.1/servers/:server_id/action');
    assert.ok(r, 'no action route');
    return r;
  };

  it('is consistent: an action that runs on a compute sets the task state its compute step acts in first', () => {
    for (const [key, a] of serverActions()) {
      if (a.rpc === null) continue;
      const step: ComputeStep = COMPUTE_STEPS[a.rpc];
      const states: Array<[string | undefined, ActionStates]> = [[undefined, a], ...Object.entries(a.variants ?? {})];
      for (const [variant, s] of states) {
        const computeStates = (variant !== undefined ? step.variants?.[variant] : undefined) ?? step.taskStates;
        if (s.taskState !== null) assert.equal(computeStates[0], s.taskState, `${key}${variant ? ` ${variant}` : ''}`);
      }
    }
  });

  it('routes every entry, and only those, in its order', () => {
    const names = route().bodyVariants.map((v) => (v as { required: string[] }).required[0]);
    assert.deepEqual(names, serverActions().map(([key]) => key));
  });

  for (const [key, a] of serverActions()) {
    it(`routes ${key} from ${a.since ?? '2.1'}${a.since !== null ? `, not at ${below(a.since)}` : ''}`, async () => {
      const id = await createServer(h, h.admin);
      await placeOnNode(h, id);
      const at = await act(id, key, a.example, a.since ?? '2.1');
      assert.notEqual(JSON.stringify(at.body), JSON.stringify({ badRequest: { code: 400, message: `There is no such action: ${key}` } }));
      if (a.since !== null) {
        const old = await act(id, key, a.example, below(a.since));
        assert.equal(old.status, 400);
        assert.equal(old.body.badRequest.message, `There is no such action: ${key}`);
      }
    });
  }

  it('authorises every entry with a registered rule the route lists', () => {
    const registered = new Set(POLICY_DEFAULT_SETS.compute.map((d) => d.name));
    const listed = new Set(route().actionPolicies);
    for (const [key, a] of serverActions()) {
      assert.ok(registered.has(a.policy), `${key}: ${a.policy} is no compute policy default`);
      assert.ok(listed.has(a.policy), `${key}: ${a.policy} is not among the route's action rules`);
    }
  });

  for (const [key, a] of serverActions()) {
    if (a.vmStates === null) continue;
    const allowed: readonly string[] = a.vmStates;
    const wrong = Object.values(VmState).find((s) => !allowed.includes(s) && s !== VmState.DELETED)!;
    it(`state-checks ${key}: 409 in vm_state ${wrong}`, async () => {
      const id = await createServer(h, h.admin);
      await placeOnNode(h, id, { vm_state: wrong });
      const res = await act(id, key, a.example, MAX_MICROVERSION);
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.conflictingRequest.message, `Cannot '${a.name}' instance ${id} while it is in vm_state ${wrong}`);
    });
  }

  for (const [key, a] of serverActions()) {
    if (a.taskStates === null) continue;
    const allowed: ReadonlyArray<string | null> = a.taskStates;
    const wrong = Object.values(TaskState).find((s) => !allowed.includes(s))!;
    const from = a.vmStates?.[0] ?? VmState.ACTIVE;
    it(`state-checks ${key}: 409 in vm_state ${from} with task_state ${wrong}`, async () => {
      const id = await createServer(h, h.admin);
      await placeOnNode(h, id, { vm_state: from, task_state: wrong });
      const res = await act(id, key, a.example, MAX_MICROVERSION);
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.conflictingRequest.message, `Cannot '${a.name}' instance ${id} while it is in task_state ${wrong}`);
    });
  }

  it('is documented: docs/server-actions.md has the table generated from it', () => {
    const page = readFileSync(PAGE, 'utf8');
    const start = page.indexOf(START);
    const end = page.indexOf(END);
    assert.ok(start >= 0 && end > start, `docs/server-actions.md lacks the ${START} … ${END} markers`);
    const expected = catalogueTable();
    assert.equal(page.slice(start + START.length, end).trim(), expected, `docs/server-actions.md's table should read:\n${expected}\n`);
  });
});
