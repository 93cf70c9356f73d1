import { type Kysely, type CreateTableBuilder, PostgresAdapter } from 'kysely';

/** An auto-increment integer primary key in the dialect of the connection. */
function withId<T extends string>(db: Kysely<unknown>, t: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'id'> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  return pg
    ? t.addColumn('id', 'serial', (c) => c.primaryKey())
    : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/**
 * A floating-point column: SQLite's REAL is 8 bytes, PostgreSQL's `real` only 4, so PostgreSQL
 * gets `double precision` and both databases compute claims with the same precision.
 */
function float(db: Kysely<unknown>): 'real' | 'double precision' {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'double precision' : 'real';
}

export async function up(db: Kysely<unknown>): Promise<void> {
  const s = db.schema;
  // identity
  await s.createTable('projects')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('is_domain', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('parent_id', 'varchar(64)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addUniqueConstraint('projects_domain_name', ['domain_id', 'name'])
    .execute();
  await s.createTable('users')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('default_project_id', 'varchar(64)')
    .addColumn('email', 'varchar(255)')
    .addColumn('description', 'text')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addUniqueConstraint('users_domain_name', ['domain_id', 'name'])
    .execute();
  await s.createTable('roles')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('domain_id', 'varchar(64)')
    .execute();
  await s.createTable('role_assignments')
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('role_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('role_assignments_pk', ['user_id', 'project_id', 'role_id'])
    .execute();
  await s.createTable('tokens')
    .addColumn('id', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)')
    .addColumn('issued_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  // image
  await s.createTable('images')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)')
    .addColumn('owner', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('visibility', 'varchar(20)', (c) => c.notNull())
    .addColumn('container_format', 'varchar(20)')
    .addColumn('disk_format', 'varchar(20)')
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('checksum', 'varchar(32)')
    .addColumn('os_hash_algo', 'varchar(64)')
    .addColumn('os_hash_value', 'varchar(128)')
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('os_hidden', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('properties', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createTable('image_members')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('member_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_members_pk', ['image_id', 'member_id'])
    .execute();

  // compute: flavors
  await withId(db, s.createTable('flavors'))
    .addColumn('flavorid', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('root_gb', 'integer', (c) => c.notNull())
    .addColumn('ephemeral_gb', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('swap', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rxtx_factor', float(db), (c) => c.notNull().defaultTo(1))
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('description', 'text')
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('flavors_flavorid').on('flavors').columns(['flavorid', 'deleted']).execute();
  await s.createTable('flavor_extra_specs')
    .addColumn('flavorid', 'varchar(255)', (c) => c.notNull())
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_extra_specs_pk', ['flavorid', 'key'])
    .execute();
  await s.createTable('flavor_projects')
    .addColumn('flavorid', 'varchar(255)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_projects_pk', ['flavorid', 'project_id'])
    .execute();

  // compute: instances
  await withId(db, s.createTable('instances'))
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('display_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('display_description', 'text')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('image_ref', 'varchar(255)', (c) => c.notNull())
    .addColumn('flavor', 'text', (c) => c.notNull())
    .addColumn('flavor_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('root_gb', 'integer', (c) => c.notNull())
    .addColumn('ephemeral_gb', 'integer', (c) => c.notNull())
    .addColumn('vm_state', 'varchar(30)', (c) => c.notNull())
    .addColumn('task_state', 'varchar(40)')
    .addColumn('power_state', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('host', 'varchar(255)')
    .addColumn('node', 'varchar(255)')
    .addColumn('node_uuid', 'varchar(36)')
    .addColumn('availability_zone', 'varchar(255)')
    .addColumn('key_name', 'varchar(255)')
    .addColumn('key_data', 'text')
    .addColumn('user_data', 'text')
    .addColumn('hostname', 'varchar(255)', (c) => c.notNull())
    .addColumn('reservation_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('launch_index', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_by', 'varchar(20)')
    .addColumn('config_drive', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('access_ip_v4', 'varchar(64)')
    .addColumn('access_ip_v6', 'varchar(64)')
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('image_meta', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('launched_at', 'varchar(40)')
    .addColumn('terminated_at', 'varchar(40)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('deleted_at', 'varchar(40)')
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await s.createIndex('instances_project_deleted').on('instances').columns(['project_id', 'deleted', 'created_at']).execute();
  await s.createIndex('instances_host_deleted').on('instances').columns(['host', 'deleted']).execute();
  await s.createIndex('instances_updated_at').on('instances').column('updated_at').execute();
  await s.createTable('instance_metadata')
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('instance_metadata_pk', ['instance_uuid', 'key'])
    .execute();
  await withId(db, s.createTable('instance_faults'))
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('code', 'integer', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('host', 'varchar(255)')
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('instance_faults_instance').on('instance_faults').column('instance_uuid').execute();
  await withId(db, s.createTable('instance_actions'))
    .addColumn('instance_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('action', 'varchar(255)', (c) => c.notNull())
    .addColumn('request_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('start_time', 'varchar(40)', (c) => c.notNull())
    .addColumn('finish_time', 'varchar(40)')
    .addColumn('message', 'text')
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await s.createIndex('instance_actions_instance').on('instance_actions').columns(['instance_uuid', 'request_id']).execute();
  await withId(db, s.createTable('instance_action_events'))
    .addColumn('action_id', 'integer', (c) => c.notNull())
    .addColumn('event', 'varchar(255)', (c) => c.notNull())
    .addColumn('start_time', 'varchar(40)', (c) => c.notNull())
    .addColumn('finish_time', 'varchar(40)')
    .addColumn('result', 'varchar(255)')
    .addColumn('traceback', 'text')
    .addColumn('host', 'varchar(255)')
    .addColumn('details', 'text')
    .execute();
  await s.createIndex('instance_action_events_action').on('instance_action_events').column('action_id').execute();

  await withId(db, s.createTable('key_pairs'))
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('fingerprint', 'varchar(255)', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('type', 'varchar(10)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addUniqueConstraint('key_pairs_user_name', ['user_id', 'name'])
    .execute();

  await withId(db, s.createTable('aggregates'))
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)')
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await s.createTable('aggregate_hosts')
    .addColumn('aggregate_id', 'integer', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_hosts_pk', ['aggregate_id', 'host'])
    .execute();
  await s.createTable('aggregate_metadata')
    .addColumn('aggregate_id', 'integer', (c) => c.notNull())
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_metadata_pk', ['aggregate_id', 'key'])
    .execute();

  await withId(db, s.createTable('services'))
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('binary', 'varchar(255)', (c) => c.notNull())
    .addColumn('topic', 'varchar(255)', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled_reason', 'varchar(255)')
    .addColumn('forced_down', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_seen_up', 'varchar(40)')
    .addColumn('report_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('version', 'varchar(20)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addUniqueConstraint('services_host_binary', ['host', 'binary', 'deleted'])
    .execute();

  await withId(db, s.createTable('compute_nodes'))
    .addColumn('uuid', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('hypervisor_hostname', 'varchar(255)', (c) => c.notNull())
    .addColumn('hypervisor_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('hypervisor_version', 'integer', (c) => c.notNull())
    .addColumn('host_ip', 'varchar(64)', (c) => c.notNull())
    .addColumn('cpu_info', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await s.createIndex('compute_nodes_host').on('compute_nodes').columns(['host', 'deleted']).execute();
  await s.createTable('inventories')
    .addColumn('node_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('resource_class', 'varchar(255)', (c) => c.notNull())
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('reserved', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_unit', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('max_unit', 'integer', (c) => c.notNull())
    .addColumn('step_size', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('allocation_ratio', float(db), (c) => c.notNull().defaultTo(1))
    .addColumn('used', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('inventories_pk', ['node_uuid', 'resource_class'])
    .execute();
  await s.createTable('allocations')
    .addColumn('consumer_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('node_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('resource_class', 'varchar(255)', (c) => c.notNull())
    .addColumn('used', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('allocations_pk', ['consumer_uuid', 'node_uuid', 'resource_class'])
    .execute();
  await s.createTable('node_traits')
    .addColumn('node_uuid', 'varchar(36)', (c) => c.notNull())
    .addColumn('trait', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('node_traits_pk', ['node_uuid', 'trait'])
    .execute();
  await s.createIndex('node_traits_trait').on('node_traits').columns(['trait', 'node_uuid']).execute();

  await s.createTable('quotas')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(255)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('quotas_pk', ['project_id', 'resource'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('the initial schema cannot be downgraded');
}
