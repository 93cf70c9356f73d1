import type { AuthContext } from '../auth/context.js';
import { Forbidden, NotFound } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { getImageRow, getMember, type ImageRow, type ImageViewer } from '../db/images.js';

/** Glance's visibility rules for a single image, and who may change it. */

export const viewerOf = (auth: AuthContext): ImageViewer => ({ projectId: auth.projectId, isAdmin: auth.isAdmin });

export const ownsImage = (row: ImageRow, auth: AuthContext): boolean =>
  auth.isAdmin || (auth.projectId !== null && row.owner === auth.projectId);

/**
 * Whether the caller may see the image by id: admins, the owner, anyone for public and
 * community images, and members of a shared image whatever their member status.
 */
export async function canRead(db: Db, row: ImageRow, auth: AuthContext): Promise<boolean> {
  if (ownsImage(row, auth) || row.visibility === 'public' || row.visibility === 'community') return true;
  if (row.visibility !== 'shared' || auth.projectId === null) return false;
  return (await getMember(db, row.id, auth.projectId)) !== null;
}

export const imageNotFound = (id: string): NotFound => new NotFound(`No image found with ID ${id}`);

/** The image if the caller may see it; otherwise 404, never revealing that it exists. */
export async function readableImage(db: Db, id: string, auth: AuthContext): Promise<ImageRow> {
  const row = await getImageRow(db, id);
  if (!row || !(await canRead(db, row, auth))) throw imageNotFound(id);
  return row;
}

/** The image if the caller owns it (or is admin): 404 when invisible, 403 when only visible. */
export async function ownedImage(db: Db, id: string, auth: AuthContext): Promise<ImageRow> {
  const row = await readableImage(db, id, auth);
  if (!ownsImage(row, auth)) throw new Forbidden(`You are not permitted to modify image ${id}.`);
  return row;
}
