/**
 * The conformance kit's fixture for the ironic driver over any Bare Metal API (a real Ironic or
 * Orrery's own service): each check gets nodes of a resource class of its own, enrolled with
 * `fake-hardware` and taken to `available` over the API, and removes them afterwards. Only the
 * API and the contract package are used, so a test of any back-end can hand it an endpoint.
 */
import { randomUUID } from 'node:crypto';
import { createTestContext, sampleInstanceSpec, Skip, type ConformanceFixture } from '@orrery/virt-api/conformance';
import type { NodeInfo } from '@orrery/virt-api';
import { createDriver } from '@orrery/driver-ironic';

export interface IronicTarget {
  name: string;
  /** The API root, e.g. http://127.0.0.1:6385. */
  url: string;
  /** The driver's [ironic] section for this back-end (auth, endpoint); the fixture adds resource_class and the intervals. */
  config: Record<string, string>;
  /** Headers of the fixture's own calls (an admin token, or none for noauth). */
  headers(): Promise<Record<string, string>>;
  /** What the specs' image is on this back-end (an image the service can deploy); default the kit's sample. */
  image?: { id: string; diskFormat?: string; properties?: Record<string, string> };
  /**
   * The service refuses a deploy whose instance_info traits the node lacks (Ironic does): the
   * kit's failing spawn is then a flavor requiring a trait no node has. Without it the kit's
   * failed-spawn check skips.
   */
  refusesMissingTraits: boolean;
}

interface Node {
  uuid: string;
  provision_state: string;
  target_provision_state: string | null;
  instance_uuid: string | null;
  last_error: string | null;
}

/** Contract nodes per check: the parallel spawns (4) and one more, so consecutive specs never share a node. */
const NODES = 5;
const PARALLEL = 4;

/** One call to the target's API; throws with the body on an unexpected status. */
async function call(t: IronicTarget, method: string, path: string, body?: unknown, ok: number[] = [200, 201, 202, 204]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- Ironic's documents
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers: { ...(await t.headers()), 'content-type': 'application/json', accept: 'application/json', 'x-openstack-ironic-api-version': '1.46' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!ok.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function settle(t: IronicTarget, uuid: string, want: string[], ms = 120_000): Promise<Node> {
  const deadline = Date.now() + ms;
  for (;;) {
    const n = (await call(t, 'GET', `/v1/nodes/${uuid}`)) as Node;
    if (want.includes(n.provision_state) && !n.target_provision_state) return n;
    if (Date.now() > deadline) throw new Error(`node ${uuid} stayed ${n.provision_state}, wanted ${want.join('|')}: ${n.last_error}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Enrolls a fake-hardware node of `rc` and takes it to available (manage, provide). */
export async function availableNode(t: IronicTarget, rc: string): Promise<string> {
  const n = (await call(t, 'POST', '/v1/nodes', {
    name: `kit-${randomUUID().slice(0, 8)}`, driver: 'fake-hardware', resource_class: rc, properties: { cpus: 2, memory_mb: 2048, local_gb: 10, cpu_arch: 'x86_64' },
  })) as Node;
  await call(t, 'PUT', `/v1/nodes/${n.uuid}/states/provision`, { target: 'manage' });
  await settle(t, n.uuid, ['manageable']);
  await call(t, 'PUT', `/v1/nodes/${n.uuid}/states/provision`, { target: 'provide' });
  await settle(t, n.uuid, ['available']);
  return n.uuid;
}

/** Undeploys what a check left and deletes the node. */
async function removeNode(t: IronicTarget, uuid: string): Promise<void> {
  let n = (await call(t, 'GET', `/v1/nodes/${uuid}`, undefined, [200, 404])) as Node | null;
  if (!n || !('uuid' in n)) return;
  if (['active', 'deploy failed', 'wait call-back'].includes(n.provision_state)) {
    await call(t, 'PUT', `/v1/nodes/${uuid}/states/provision`, { target: 'deleted' });
    n = await settle(t, uuid, ['available', 'manageable', 'clean failed']);
  }
  if (n.instance_uuid) await call(t, 'PATCH', `/v1/nodes/${uuid}`, [{ op: 'remove', path: '/instance_uuid' }]);
  await call(t, 'DELETE', `/v1/nodes/${uuid}`, undefined, [204, 404]);
}

export function ironicFixture(t: IronicTarget): ConformanceFixture {
  // The nodes of the check being run, and the next one a spec takes (specs go round the nodes).
  let current: string[] = [];
  let next = 0;
  return {
    name: `ironic (${t.name})`,
    parallelSpawns: PARALLEL,
    checkTimeoutMs: 120_000,
    eventTimeoutMs: 10_000,
    sampleSpec(node, caps) {
      const spec = { ...sampleInstanceSpec(node, caps), ...(t.image ? { image: { ...sampleInstanceSpec(node, caps).image, ...t.image } } : {}) };
      return current.length ? { ...spec, node: current[next++ % current.length]! } : spec;
    },
    samplePorts() {
      throw new Skip('a bare-metal node takes no network ports of the cloud: plugVifs refuses them (NotSupported), so the VIF checks cannot run');
    },
    async create() {
      const rc = `kit_${randomUUID().slice(0, 8)}`;
      const uuids = await Promise.all(Array.from({ length: NODES }, () => availableNode(t, rc)));
      current = [...uuids].sort();
      next = 0;
      const { ctx, cleanup } = await createTestContext({ host: 'kit-host', config: { ...t.config, resource_class: rc, poll_interval: '0.2', cluster: `kit-${rc}` } });
      return {
        driver: createDriver(),
        ctx,
        reopen: () => createDriver(),
        async cleanup() {
          await Promise.all(uuids.map((u) => removeNode(t, u)));
          await cleanup();
        },
        // The flavor requires a trait no node has: the service refuses the deploy (instance_info traits must be the node's).
        ...(t.refusesMissingTraits ? {
          async failSpawn(node: NodeInfo) {
            const spec = sampleInstanceSpec(node, { imageFormats: [(t.config['image_formats'] ?? 'ami').split(',')[0]!] } as never);
            return { ...spec, ...(t.image ? { image: { ...spec.image, ...t.image } } : {}), flavor: { ...spec.flavor, extraSpecs: { 'trait:CUSTOM_KIT_NO_NODE_HAS_IT': 'required' } } };
          },
        } : {}),
        // Seen from the API: a node still associated with an instance, or not back to available.
        async externalLeaks() {
          const left: string[] = [];
          for (const u of uuids) {
            const n = (await call(t, 'GET', `/v1/nodes/${u}`)) as Node;
            if (n.instance_uuid) left.push(`node ${u} holds instance ${n.instance_uuid}`);
            if (n.provision_state !== 'available') left.push(`node ${u} is ${n.provision_state}`);
          }
          return left;
        },
      };
    },
  };
}
