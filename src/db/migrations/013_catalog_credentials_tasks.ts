import type { Kysely } from 'kysely';

/**
 * Expand phase (issue #22): the catalog as rows (Keystone's region, service and endpoint tables),
 * Keystone's credentials (the blob stored only encrypted, with the hash of the key that encrypted
 * it), and Glance's tasks (one per image import). `extra` columns hold the attributes Keystone
 * keeps beside the named ones (a service's description, unknown fields), as JSON objects.
 * A previous release reads none of it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  await s.createTable('regions')
    .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('parent_region_id', 'varchar(255)')
    .addColumn('extra', 'text', (c) => c.notNull())
    .execute();
  await s.createIndex('regions_parent').on('regions').column('parent_region_id').execute();

  await s.createTable('catalog_services')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .execute();

  await s.createTable('catalog_endpoints')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('service_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('interface', 'varchar(8)', (c) => c.notNull())
    .addColumn('region_id', 'varchar(255)')
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .execute();
  await s.createIndex('catalog_endpoints_service').on('catalog_endpoints').column('service_id').execute();
  await s.createIndex('catalog_endpoints_region').on('catalog_endpoints').column('region_id').execute();

  await s.createTable('credentials')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)')
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    /** base64 of iv ‖ tag ‖ AES-256-GCM ciphertext of the blob. */
    .addColumn('encrypted_blob', 'text', (c) => c.notNull())
    /** sha256 of the key that encrypted it (which key of the repository to use). */
    .addColumn('key_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('credentials_user').on('credentials').column('user_id').execute();

  await s.createTable('image_tasks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(30)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('input', 'text', (c) => c.notNull())
    .addColumn('result', 'text')
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('image_id', 'varchar(36)')
    .addColumn('request_id', 'varchar(64)')
    .addColumn('user_id', 'varchar(64)')
    .addColumn('expires_at', 'varchar(40)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('image_tasks_image').on('image_tasks').column('image_id').execute();
  await s.createIndex('image_tasks_owner').on('image_tasks').column('owner').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['image_tasks', 'credentials', 'catalog_endpoints', 'catalog_services', 'regions']) await db.schema.dropTable(t).execute();
}
