import { isoSeconds } from '../common/time.js';
import type { ImageMemberRow, ImageRow } from '../db/images.js';

/** Glance's image body: core attributes plus the extra properties at top level. */
export function imageView(row: ImageRow): Record<string, unknown> {
  const properties = JSON.parse(row.properties) as Record<string, string>;
  return {
    ...properties,
    id: row.id,
    name: row.name,
    status: row.status,
    visibility: row.visibility,
    protected: row.protected === 1,
    os_hidden: row.os_hidden === 1,
    checksum: row.checksum,
    os_hash_algo: row.os_hash_algo,
    os_hash_value: row.os_hash_value,
    size: row.size === null ? null : Number(row.size),
    virtual_size: row.virtual_size === null ? null : Number(row.virtual_size),
    min_disk: row.min_disk,
    min_ram: row.min_ram,
    owner: row.owner,
    container_format: row.container_format,
    disk_format: row.disk_format,
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
    tags: JSON.parse(row.tags) as string[],
    self: `/v2/images/${row.id}`,
    file: `/v2/images/${row.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export function memberView(m: ImageMemberRow): Record<string, unknown> {
  return {
    created_at: isoSeconds(m.created_at),
    image_id: m.image_id,
    member_id: m.member_id,
    schema: '/v2/schemas/member',
    status: m.status,
    updated_at: isoSeconds(m.updated_at),
  };
}
