import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { Conflict, NotFound, OrreryError } from '../common/errors.js';
import { newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { deleteExpiredTasks, insertTask, staleRunningTasks, updateTask, type ImageTaskRow } from '../db/image-tasks.js';
import { getImageRow, updateImage, type ImageRow } from '../db/images.js';
import { atomically } from '../db/transactions.js';
import { virtualSizeOf } from './data.js';
import { formatProblem } from './import-format.js';
import { STORE_ID } from './info-routes.js';
import type { ImageStore } from './store.js';

/**
 * The interoperable image import, glance-direct: the data is staged (queued → uploading), then
 * imported (uploading → importing → active) by a task of type api_image_import that checks the
 * staged data, copies it into the store while hashing it, and removes it from staging. A failed
 * import sends the image back to queued with its staged data gone, the task to failure with why.
 */

/** Glance's task_time_to_live: a finished task is kept 48 hours. */
const TASK_TTL_MS = 48 * 3600_000;
/** A running import refreshes its task this often; one not refreshed for STALE_MS lost its process. */
const HEARTBEAT_MS = 30_000;
const STALE_MS = 5 * 60_000;

export interface ImportContext {
  db: Db;
  store: ImageStore;
  staging: ImageStore;
  maxBytes: number;
  log: FastifyBaseLogger;
}

/** Stages an image's data (PUT /stage): queued → uploading; any failure back to queued with nothing staged. */
export async function stageImageData(ctx: ImportContext, imageId: string, source: Readable): Promise<void> {
  const { db, staging } = ctx;
  if (!(await updateImage(db, imageId, { status: 'uploading', updated_at: now().toISOString() }, 'queued'))) {
    const current = await getImageRow(db, imageId);
    if (!current) throw new NotFound(`No image found with ID ${imageId}`);
    throw new Conflict(`Image status transition from ${current.status} to uploading is not allowed`);
  }
  try {
    await staging.write(imageId, source, async () => {
      const row = await getImageRow(db, imageId);
      if (row?.status !== 'uploading') throw new OrreryError(410, 'gone', `Image ${imageId} could not be found after upload. The image may have been deleted during the upload.`);
    }, ctx.maxBytes);
  } catch (err) {
    await updateImage(db, imageId, { status: 'queued', updated_at: now().toISOString() }, 'uploading');
    throw err;
  }
}

/**
 * Starts the import of a staged image (POST /import): the image goes to importing and a task is
 * recorded in one transaction, then the task runs in the background. Returns the task.
 */
export async function startImport(
  ctx: ImportContext, image: ImageRow, who: { projectId: string | null; userId: string; requestId: string }, request: unknown,
): Promise<ImageTaskRow> {
  const { db, staging } = ctx;
  await recoverStaleImports(ctx);
  if (image.status !== 'uploading' || !(await staging.exists(image.id))) {
    throw new Conflict("Image needs to be staged before 'glance-direct' method can be used");
  }
  const ts = now().toISOString();
  const task: ImageTaskRow = {
    id: newUuid(), type: 'api_image_import', status: 'processing', owner: who.projectId ?? image.owner ?? '',
    input: JSON.stringify({ image_id: image.id, import_req: request, backend: [STORE_ID] }), result: null, message: '',
    image_id: image.id, request_id: who.requestId, user_id: who.userId, expires_at: null, created_at: ts, updated_at: ts,
  };
  await atomically(db, async (tx) => {
    // The status is the import's lock: of two imports of one image, one moves it.
    if (!(await updateImage(tx, image.id, { status: 'importing', updated_at: ts }, 'uploading'))) {
      throw new Conflict("Image needs to be staged before 'glance-direct' method can be used");
    }
    await deleteExpiredTasks(tx, ts);
    await insertTask(tx, task);
  });
  void runImport(ctx, image, task.id);
  return task;
}

class ImportFailure extends Error {}

async function runImport(ctx: ImportContext, image: ImageRow, taskId: string): Promise<void> {
  const { db, store, staging } = ctx;
  const heartbeat = setInterval(() => {
    updateTask(db, taskId, { updated_at: now().toISOString() }).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  try {
    const problem = await formatProblem(staging.path(image.id), image.disk_format);
    if (problem) throw new ImportFailure(problem);
    const data = await store.write(image.id, staging.open(image.id), async (d) => {
      const done = await updateImage(db, image.id, {
        status: 'active', size: d.size, virtual_size: virtualSizeOf(image.disk_format, d), checksum: d.md5,
        os_hash_algo: 'sha512', os_hash_value: d.sha512, updated_at: now().toISOString(),
      }, 'importing');
      if (!done) throw new ImportFailure(`Image ${image.id} was deleted during its import.`);
    }, ctx.maxBytes);
    await staging.remove(image.id);
    const ts = now();
    await updateTask(db, taskId, {
      status: 'success', result: JSON.stringify({ image_id: image.id }), message: '', updated_at: ts.toISOString(),
      expires_at: new Date(ts.getTime() + TASK_TTL_MS).toISOString(),
    });
    ctx.log.info({ image: image.id, task: taskId, size: data.size }, 'image imported');
  } catch (err) {
    const message = err instanceof ImportFailure || err instanceof OrreryError ? err.message : `The import failed: ${(err as Error).message}`;
    await failImport(ctx, image.id, taskId, message).catch((e: unknown) => ctx.log.error({ err: e, image: image.id }, 'could not record a failed import'));
  } finally {
    clearInterval(heartbeat);
  }
}

/** The image back to queued with no staged data, the task failed with `message`. */
async function failImport(ctx: ImportContext, imageId: string, taskId: string, message: string): Promise<void> {
  const ts = now();
  await updateImage(ctx.db, imageId, { status: 'queued', updated_at: ts.toISOString() }, 'importing');
  await ctx.staging.remove(imageId);
  await updateTask(ctx.db, taskId, { status: 'failure', message, updated_at: ts.toISOString(), expires_at: new Date(ts.getTime() + TASK_TTL_MS).toISOString() });
  ctx.log.warn({ image: imageId, task: taskId, reason: message }, 'image import failed');
}

/** Imports whose process stopped (no heartbeat for STALE_MS) fail, so their images can be staged again. */
export async function recoverStaleImports(ctx: ImportContext): Promise<void> {
  const stale = await staleRunningTasks(ctx.db, new Date(now().getTime() - STALE_MS).toISOString());
  for (const t of stale) {
    if (t.image_id !== null) await failImport(ctx, t.image_id, t.id, 'The import stopped: the process running it went away.');
    else await updateTask(ctx.db, t.id, { status: 'failure', message: 'The task stopped: the process running it went away.', updated_at: now().toISOString() });
  }
}
