/**
 * The Bare Metal API calls the driver makes, typed: nodes of a resource class, one node, its
 * instance association (a JSON patch), provision and power targets. Errors stay the client's
 * (IronicHttpError for a 4xx); the driver decides what each means for its call.
 */
import type { IronicClient } from './client.js';
import { IronicHttpError } from './client.js';
import type { IronicNode } from './nodes.js';

/** Most pages of a node list followed (a page is up to the service's max_limit, 1000 in Ironic). */
const MAX_PAGES = 100;

/** Every node of `resourceClass` (filtered here too: a service may ignore the query). */
export async function listNodes(c: IronicClient, resourceClass: string): Promise<IronicNode[]> {
  const out: IronicNode[] = [];
  let path: string | null = `/v1/nodes/detail?resource_class=${encodeURIComponent(resourceClass)}`;
  for (let page = 0; path && page < MAX_PAGES; page++) {
    const body: { nodes?: IronicNode[]; next?: string } = await c.request('GET', path);
    for (const n of body.nodes ?? []) if (n.resource_class === resourceClass) out.push(n);
    path = body.next ? nextPath(body.next) : null;
  }
  return out;
}

/** The path and query of a `next` link (an absolute URL in Ironic's answers). */
function nextPath(next: string): string | null {
  try {
    const u = new URL(next);
    return `${u.pathname.replace(/^.*(?=\/v1\/)/, '')}${u.search}`;
  } catch {
    return null;
  }
}

/** One node by uuid, or null when the service has none. */
export async function getNode(c: IronicClient, uuid: string): Promise<IronicNode | null> {
  try {
    return await c.request<IronicNode>('GET', `/v1/nodes/${encodeURIComponent(uuid)}`);
  } catch (err) {
    if (err instanceof IronicHttpError && err.status === 404) return null;
    throw err;
  }
}

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export async function patchNode(c: IronicClient, uuid: string, ops: PatchOp[]): Promise<IronicNode> {
  return c.request<IronicNode>('PATCH', `/v1/nodes/${encodeURIComponent(uuid)}`, ops);
}

/** Ironic's provision targets the driver uses. */
export type ProvisionTarget = 'active' | 'deleted';
/** Ironic's power targets (soft ones since 1.27). */
export type PowerTarget = 'power on' | 'power off' | 'rebooting' | 'soft power off' | 'soft rebooting';

/** How often a request refused because the node is locked (409 NodeLocked) is tried again, and the pause between. */
const LOCKED_RETRIES = 10;
const LOCKED_PAUSE_MS = 500;

async function whileLocked<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (err) {
      // Ironic answers 409 "Node … is locked by host …" while a conductor works on it: wait it out.
      if (!(err instanceof IronicHttpError && err.status === 409 && /locked/i.test(err.message)) || i >= LOCKED_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, LOCKED_PAUSE_MS));
    }
  }
}

export async function setProvisionState(c: IronicClient, uuid: string, target: ProvisionTarget): Promise<void> {
  await whileLocked(() => c.request('PUT', `/v1/nodes/${encodeURIComponent(uuid)}/states/provision`, { target }));
}

export async function setPowerState(c: IronicClient, uuid: string, target: PowerTarget, timeoutSec?: number): Promise<void> {
  const body: { target: PowerTarget; timeout?: number } = { target };
  if (timeoutSec !== undefined && timeoutSec > 0) body.timeout = timeoutSec;
  await whileLocked(() => c.request('PUT', `/v1/nodes/${encodeURIComponent(uuid)}/states/power`, body));
}
