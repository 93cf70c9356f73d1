import { sql, type Kysely } from 'kysely';

/**
 * Expand phase: the network service (issue #13), Neutron's resources in Neutron's shapes.
 * Booleans are 0/1, lists and maps JSON text, timestamps ISO text. `ip_allocations`' primary key
 * (subnet, address) is what makes two concurrent port creates never get one address.
 * `instances.network_info` is Nova's info cache: the ports a server has, as the compute API shows
 * them in `addresses`. A previous release reads none of it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('networks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('shared', 'integer', (c) => c.notNull())
    .addColumn('router_external', 'integer', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull())
    .addColumn('mtu', 'integer', (c) => c.notNull())
    .addColumn('network_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('physical_network', 'varchar(64)')
    .addColumn('segmentation_id', 'integer')
    .addColumn('port_security_enabled', 'integer', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  // One network per overlay segment (VNI), one flat network per physical network.
  await sql`CREATE UNIQUE INDEX networks_segment ON networks (network_type, segmentation_id) WHERE segmentation_id IS NOT NULL`.execute(db);
  await db.schema.createIndex('networks_project_idx').on('networks').columns(['project_id']).execute();

  await db.schema.createTable('subnets')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('ip_version', 'integer', (c) => c.notNull())
    .addColumn('cidr', 'varchar(64)', (c) => c.notNull())
    .addColumn('gateway_ip', 'varchar(64)')
    .addColumn('enable_dhcp', 'integer', (c) => c.notNull())
    /** JSON [{start, end}]. */
    .addColumn('allocation_pools', 'text', (c) => c.notNull())
    /** JSON [address]. */
    .addColumn('dns_nameservers', 'text', (c) => c.notNull())
    /** JSON [{destination, nexthop}]. */
    .addColumn('host_routes', 'text', (c) => c.notNull())
    .addColumn('ipv6_ra_mode', 'varchar(32)')
    .addColumn('ipv6_address_mode', 'varchar(32)')
    .addColumn('subnetpool_id', 'varchar(36)')
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('subnets_network_idx').on('subnets').columns(['network_id']).execute();

  await db.schema.createTable('ports')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('mac_address', 'varchar(32)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('device_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('device_owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('binding_host_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('binding_vnic_type', 'varchar(32)', (c) => c.notNull())
    /** JSON object. */
    .addColumn('binding_profile', 'text', (c) => c.notNull())
    .addColumn('port_security_enabled', 'integer', (c) => c.notNull())
    /** JSON [{ip_address, mac_address}]. */
    .addColumn('allowed_address_pairs', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  // Neutron's constraint: a MAC once per network.
  await db.schema.createIndex('ports_network_mac').on('ports').columns(['network_id', 'mac_address']).unique().execute();
  await db.schema.createIndex('ports_device_idx').on('ports').columns(['device_id']).execute();
  await db.schema.createIndex('ports_host_idx').on('ports').columns(['binding_host_id']).execute();

  await db.schema.createTable('ip_allocations')
    .addColumn('subnet_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(36)', (c) => c.notNull())
    .addPrimaryKeyConstraint('ip_allocations_pk', ['subnet_id', 'ip_address'])
    .execute();
  await db.schema.createIndex('ip_allocations_port_idx').on('ip_allocations').columns(['port_id']).execute();

  await db.schema.createTable('security_groups')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('stateful', 'integer', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('security_groups_project_idx').on('security_groups').columns(['project_id']).execute();
  // Neutron's default_security_group: the primary key makes "one default per project" hold under concurrency.
  await db.schema.createTable('default_security_groups')
    .addColumn('project_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('security_group_id', 'varchar(36)', (c) => c.notNull())
    .execute();

  await db.schema.createTable('security_group_rules')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('security_group_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('direction', 'varchar(8)', (c) => c.notNull())
    .addColumn('ethertype', 'varchar(8)', (c) => c.notNull())
    .addColumn('protocol', 'varchar(40)')
    .addColumn('port_range_min', 'integer')
    .addColumn('port_range_max', 'integer')
    .addColumn('remote_ip_prefix', 'varchar(64)')
    .addColumn('remote_group_id', 'varchar(36)')
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('security_group_rules_group_idx').on('security_group_rules').columns(['security_group_id']).execute();

  await db.schema.createTable('port_security_groups')
    .addColumn('port_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('security_group_id', 'varchar(36)', (c) => c.notNull())
    .addPrimaryKeyConstraint('port_security_groups_pk', ['port_id', 'security_group_id'])
    .execute();
  await db.schema.createIndex('port_security_groups_group_idx').on('port_security_groups').columns(['security_group_id']).execute();

  await db.schema.createTable('routers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('gw_network_id', 'varchar(36)')
    .addColumn('gw_port_id', 'varchar(36)')
    .addColumn('enable_snat', 'integer', (c) => c.notNull())
    /** JSON [{destination, nexthop}] (extraroute). */
    .addColumn('routes', 'text', (c) => c.notNull())
    /** The agent host that serves the router (chosen among live L3 agents; moves when it dies). */
    .addColumn('agent_host', 'varchar(255)')
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();

  await db.schema.createTable('floating_ips')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('floating_network_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('floating_ip_address', 'varchar(64)', (c) => c.notNull())
    /** The port on the external network that holds the address (device_owner network:floatingip). */
    .addColumn('floating_port_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('fixed_port_id', 'varchar(36)')
    .addColumn('fixed_ip_address', 'varchar(64)')
    .addColumn('router_id', 'varchar(36)')
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('floating_ips_address').on('floating_ips').columns(['floating_network_id', 'floating_ip_address']).unique().execute();
  // A fixed address has at most one floating address (Neutron's FloatingIPPortAlreadyAssociated).
  await sql`CREATE UNIQUE INDEX floating_ips_fixed ON floating_ips (fixed_port_id, fixed_ip_address) WHERE fixed_port_id IS NOT NULL`.execute(db);

  await db.schema.createTable('network_agents')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('agent_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('binary', 'varchar(255)', (c) => c.notNull())
    .addColumn('topic', 'varchar(255)', (c) => c.notNull())
    .addColumn('availability_zone', 'varchar(255)')
    /** JSON object: tunneling_ip, bridge_mappings, interface_mappings, … */
    .addColumn('configurations', 'text', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('started_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('heartbeat_at', 'varchar(40)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('network_agents_host_type').on('network_agents').columns(['host', 'agent_type']).unique().execute();

  // Per-project overrides of the [quotas] defaults (Neutron's quotas table): one row per resource set.
  await db.schema.createTable('network_quotas')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('network_quotas_pk', ['project_id', 'resource'])
    .execute();

  // Nova's instance info cache (JSON list of the server's ports as NetworkInfoCache in
  // src/db/schema-network.ts says) and the networks the user asked for at create.
  await db.schema.alterTable('instances').addColumn('network_info', 'text').execute();
  await db.schema.alterTable('instances').addColumn('requested_networks', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('requested_networks').execute();
  await db.schema.alterTable('instances').dropColumn('network_info').execute();
  for (const t of ['network_quotas', 'network_agents', 'floating_ips', 'routers', 'port_security_groups', 'security_group_rules', 'default_security_groups',
    'security_groups', 'ip_allocations', 'ports', 'subnets', 'networks']) {
    await db.schema.dropTable(t).execute();
  }
}
