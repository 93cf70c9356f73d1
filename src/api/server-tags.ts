import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import type { InstanceRow } from '../db/instances.js';
import { changeInstanceTags } from '../db/server-tags.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { requireMicroversion } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { checkInstanceState, findServer } from './server-common.js';
import { MAX_TAGS, TagSchema } from './server-schemas.js';
import { serverLinks } from './server-view.js';

/** Server tags (microversion 2.26, Nova's server_tags controller). Tags live in instances.tags as a JSON array. */

const TagsBody = Type.Object({ tags: Type.Array(TagSchema, { maxItems: MAX_TAGS }) }, { additionalProperties: false });
type TagsBody = Static<typeof TagsBody>;

/** Nova changes tags of instances in these states only. */
const TAG_VM_STATES = [
  VmState.ACTIVE, VmState.PAUSED, VmState.RESCUED, VmState.SHELVED, VmState.SHELVED_OFFLOADED, VmState.STOPPED, VmState.SUSPENDED,
];

type Params = { Params: { server_id: string } };
type TagParams = { Params: { server_id: string; tag: string } };

const tagsOf = (row: InstanceRow): string[] => JSON.parse(row.tags) as string[];

async function taggableServer(deps: ComputeApiDeps, req: FastifyRequest, id: string, action: string): Promise<InstanceRow> {
  requireMicroversion(req, '2.26');
  const row = await findServer(deps.db, req, id);
  checkInstanceState(row, action, TAG_VM_STATES, null);
  return row;
}

const TAG_RE = /^[^,/]{1,60}$/;

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<Params>(app, 'GET', '/servers/:server_id/tags', { policy: 'os_compute_api:os-server-tags:index' }, async (req) => {
    requireMicroversion(req, '2.26');
    return { tags: tagsOf(await findServer(deps.db, req, req.params.server_id)) };
  });

  routeBoth<Params & { Body: TagsBody }>(app, 'PUT', '/servers/:server_id/tags', { policy: 'os_compute_api:os-server-tags:update_all', schema: { body: TagsBody } }, async (req) => {
    const row = await taggableServer(deps, req, req.params.server_id, 'update tags');
    return { tags: await changeInstanceTags(deps.db, row.uuid, () => [...new Set(req.body.tags)]) };
  });

  routeBoth<Params>(app, 'DELETE', '/servers/:server_id/tags', { policy: 'os_compute_api:os-server-tags:delete_all', status: 204 }, async (req) => {
    const row = await taggableServer(deps, req, req.params.server_id, 'delete tags');
    await changeInstanceTags(deps.db, row.uuid, () => []);
    return undefined;
  });

  routeBoth<TagParams>(app, 'GET', '/servers/:server_id/tags/:tag', { policy: 'os_compute_api:os-server-tags:show', status: 204 }, async (req) => {
    requireMicroversion(req, '2.26');
    const row = await findServer(deps.db, req, req.params.server_id);
    if (!tagsOf(row).includes(req.params.tag)) throw new NotFound(`Instance ${row.uuid} has no tag '${req.params.tag}'`);
    return undefined;
  });

  routeBoth<TagParams>(app, 'PUT', '/servers/:server_id/tags/:tag', { policy: 'os_compute_api:os-server-tags:update' }, async (req, reply) => {
    const { tag } = req.params;
    const row = await taggableServer(deps, req, req.params.server_id, 'update tag');
    if (!TAG_RE.test(tag)) {
      throw new BadRequest(`Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','.`);
    }
    let existed = false;
    await changeInstanceTags(deps.db, row.uuid, (current) => {
      existed = current.includes(tag);
      if (existed) return current;
      if (current.length >= MAX_TAGS) throw new BadRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS}`);
      return [...current, tag];
    });
    if (existed) {
      reply.code(204);
    } else {
      reply.code(201).header('location', `${serverLinks(req, row.uuid)[0]!.href}/tags/${encodeURIComponent(tag)}`);
    }
    return undefined;
  });

  routeBoth<TagParams>(app, 'DELETE', '/servers/:server_id/tags/:tag', { policy: 'os_compute_api:os-server-tags:delete', status: 204 }, async (req) => {
    const { tag } = req.params;
    const row = await taggableServer(deps, req, req.params.server_id, 'delete tag');
    await changeInstanceTags(deps.db, row.uuid, (current) => {
      if (!current.includes(tag)) throw new NotFound(`Instance ${row.uuid} has no tag '${tag}'`);
      return current.filter((t) => t !== tag);
    });
    return undefined;
  });
}
