import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BadRequest, Forbidden, NotFound } from '../common/errors.js';
import { isoSeconds } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { getTask, listTasks, type ImageTaskRow } from '../db/image-tasks.js';
import { ownedImage } from './access.js';
import type { ImageAppOptions } from './options.js';

/** Glance's task statuses and the task types this cloud runs. */
export const TASK_STATUSES = ['pending', 'processing', 'success', 'failure'] as const;
export const TASK_TYPES = ['api_image_import'] as const;

const taskProperties = {
  id: { type: 'string', description: 'An identifier for the task' },
  type: { type: 'string', description: 'The type of task represented by this content', enum: ['import', 'api_image_import', 'location_import'] },
  status: { type: 'string', description: 'The current status of this task', enum: [...TASK_STATUSES] },
  input: { type: ['null', 'object'], description: 'The parameters required by task, JSON blob' },
  result: { type: ['null', 'object'], description: 'The result of current task, JSON blob' },
  owner: { type: 'string', description: 'An identifier for the owner of this task' },
  message: { type: 'string', description: 'Human-readable informative message only included when appropriate (usually on failure)' },
  image_id: { type: 'string', description: 'Image associated with the task' },
  request_id: { type: 'string', description: 'Human-readable informative request-id' },
  user_id: { type: 'string', description: 'User associated with the task' },
  expires_at: { type: ['null', 'string'], description: 'Datetime when this resource would be subject to removal' },
  created_at: { type: 'string', description: 'Datetime when this resource was created' },
  updated_at: { type: 'string', description: 'Datetime when this resource was updated' },
  self: { type: 'string' },
  schema: { type: 'string' },
};
export const TASK_SCHEMA = { name: 'task', properties: taskProperties };
export const TASKS_SCHEMA = {
  name: 'tasks', properties: { tasks: { type: 'array', items: { name: 'task', properties: taskProperties } }, schema: { type: 'string' }, first: { type: 'string' }, next: { type: 'string' } },
  links: [{ rel: 'first', href: '{first}' }, { rel: 'next', href: '{next}' }, { rel: 'describedby', href: '{schema}' }],
};

/** Glance's task body; a list leaves out the input and result. */
export function taskView(t: ImageTaskRow, full = true): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: t.id, type: t.type, status: t.status, owner: t.owner, message: t.message,
    expires_at: isoSeconds(t.expires_at), created_at: isoSeconds(t.created_at), updated_at: isoSeconds(t.updated_at),
    image_id: t.image_id, request_id: t.request_id, user_id: t.user_id,
    self: `/v2/tasks/${t.id}`, schema: '/v2/schemas/task',
  };
  if (full) {
    out.input = JSON.parse(t.input) as unknown;
    out.result = t.result === null ? null : JSON.parse(t.result) as unknown;
  }
  return out;
}

const TaskParams = Type.Object({ taskId: Type.String({ maxLength: 64 }) });
const ImageParams = Type.Object({ imageId: Type.String() });
const oneOf = (values: readonly string[]) => Type.Unsafe<string>({ type: 'string', enum: [...values] });
const ListQuery = Type.Object({
  type: Type.Optional(Type.String({ maxLength: 30 })), status: Type.Optional(oneOf(TASK_STATUSES)),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })), marker: Type.Optional(Type.String({ maxLength: 64 })),
  sort_key: Type.Optional(oneOf(['created_at'])), sort_dir: Type.Optional(oneOf(['asc', 'desc'])),
}, { additionalProperties: false });
const CreateBody = Type.Object({
  type: Type.String({ maxLength: 30 }), input: Type.Object({}, { additionalProperties: true, maxProperties: 16 }),
}, { additionalProperties: true });
const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 25;

export function registerTaskRoutes(app: FastifyInstance, opts: ImageAppOptions): void {
  const db: Db = opts.db;
  app.get('/v2/schemas/task', { config: { policy: 'get_schema' } }, async () => TASK_SCHEMA);
  app.get('/v2/schemas/tasks', { config: { policy: 'get_schema' } }, async () => TASKS_SCHEMA);

  /** Tasks are a project's: another project's is not found (an admin sees all). */
  const visible = (t: ImageTaskRow | null, auth: { isAdmin: boolean; projectId: string | null }): t is ImageTaskRow =>
    t !== null && (auth.isAdmin || t.owner === auth.projectId);

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v2/tasks', { config: { policy: 'tasks_api_access' }, schema: { querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const limit = Math.min(q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit), MAX_LIMIT);
    let marker: ImageTaskRow | undefined;
    if (q.marker !== undefined) {
      const m = await getTask(db, q.marker);
      if (!visible(m, req.auth)) throw new BadRequest(`Marker ${q.marker} could not be found.`);
      marker = m;
    }
    const dir = q.sort_dir === 'asc' ? 'asc' : 'desc';
    const rows = await listTasks(db, { owner: req.auth.isAdmin ? null : req.auth.projectId, type: q.type, status: q.status, dir, limit, marker });
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (k !== 'marker' && v !== undefined) params.set(k, String(v));
    const first = params.size > 0 ? `/v2/tasks?${params}` : '/v2/tasks';
    const body: Record<string, unknown> = { tasks: rows.map((t) => taskView(t, false)), first, schema: '/v2/schemas/tasks' };
    if (rows.length > 0 && rows.length === limit) {
      params.set('marker', rows[rows.length - 1]!.id);
      body.next = `/v2/tasks?${params}`;
    }
    return body;
  });

  app.get<{ Params: Static<typeof TaskParams> }>('/v2/tasks/:taskId', { config: { policy: 'tasks_api_access' }, schema: { params: TaskParams } }, async (req) => {
    const t = await getTask(db, req.params.taskId);
    if (!visible(t, req.auth)) throw new NotFound(`Task with the given id ${req.params.taskId} not found`);
    return taskView(t);
  });

  /**
   * Glance's legacy task import fetches `import_from` — a URL — from the API host. Orrery does not
   * fetch URLs a client names (an API host would reach whatever it can reach for them), so the
   * legacy import is refused as Glance refuses a source it does not allow; the interoperable
   * import (stage, then import) is the way in.
   */
  app.post<{ Body: Static<typeof CreateBody> }>('/v2/tasks', { config: { policy: 'tasks_api_access' }, schema: { body: CreateBody } }, async (req) => {
    if (req.body.type !== 'import') {
      if ((TASK_TYPES as readonly string[]).includes(req.body.type)) throw new Forbidden(`Tasks of type ${req.body.type} are made by the image import, not through this API.`);
      throw new BadRequest(`Invalid type value: ${req.body.type}`);
    }
    throw new BadRequest('Import from a URI is not supported by this cloud: use the interoperable image import (PUT /v2/images/{image_id}/stage, then POST /v2/images/{image_id}/import).');
  });

  // Image API 2.12: the tasks of one image, for its owner.
  app.get<{ Params: Static<typeof ImageParams> }>('/v2/images/:imageId/tasks', { config: { policy: 'get_image' }, schema: { params: ImageParams } }, async (req) => {
    const image = await ownedImage(db, req.params.imageId, req.auth);
    const rows = await listTasks(db, { owner: null, imageId: image.id, dir: 'desc', limit: MAX_LIMIT });
    return { tasks: rows.map((t) => taskView(t)) };
  });
}
