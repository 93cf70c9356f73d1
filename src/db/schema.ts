import type { ColumnType, Generated } from 'kysely';
import type { NetworkTables } from './schema-network.js';
import type { IdentityTables, ProjectColumns012, TokenColumns012, UserColumns012 } from './schema-identity.js';
import type { CatalogTables } from './catalog-schema.js';
import type { NetworkL3Tables } from './schema-network-l3.js';
import type { ConsoleTables } from './schema-consoles.js';
import type { BaremetalTables } from './schema-baremetal.js';

/**
 * The database schema, one interface per table. Portable across SQLite and PostgreSQL:
 * timestamps are ISO-8601 text, booleans are 0/1 integers, JSON is text.
 */

// ---- identity
export interface ProjectTable extends ProjectColumns012 {
  id: string;
  name: string;
  domain_id: string;
  description: string;
  enabled: number;
  is_domain: number;
  parent_id: string | null;
  created_at: string;
}
export interface UserTable extends UserColumns012 {
  id: string;
  name: string;
  domain_id: string;
  password_hash: string;
  enabled: number;
  default_project_id: string | null;
  email: string | null;
  description: string | null;
  created_at: string;
  /** Consecutive failed password logins since the last success ([security_compliance] lockout). */
  failed_auth_count: Generated<number>;
  /** When the last of them was attempted; null when there were none. */
  failed_auth_at: string | null;
}
export interface RoleTable {
  id: string;
  name: string;
  domain_id: string | null;
}
/** A role implication: holding the prior role on a project also gives the implied one (Keystone's implied_role). */
export interface ImpliedRoleTable {
  prior_role_id: string;
  implied_role_id: string;
}
export interface RoleAssignmentTable {
  user_id: string;
  project_id: string;
  role_id: string;
}
export interface TokenTable extends TokenColumns012 {
  /** SHA-256 (hex) of the token id: the id itself is never stored, so the table holds no usable token. */
  id: string;
  user_id: string;
  project_id: string | null;
  issued_at: string;
  expires_at: string;
  revoked: number;
}

// ---- image
export interface ImageTable {
  id: string;
  name: string | null;
  owner: string;
  status: string;
  visibility: string;
  container_format: string | null;
  disk_format: string | null;
  size: number | null;
  virtual_size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  min_disk: number;
  min_ram: number;
  protected: number;
  os_hidden: number;
  /** JSON object of extra properties. */
  properties: string;
  /** JSON array of tags. */
  tags: string;
  created_at: string;
  updated_at: string;
}
export interface ImageMemberTable {
  image_id: string;
  member_id: string;
  status: string;
  created_at: string;
  updated_at: string;
}

// ---- compute
export interface FlavorTable {
  id: Generated<number>;
  flavorid: string;
  name: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  rxtx_factor: number;
  is_public: number;
  disabled: number;
  description: string | null;
  deleted: number;
  created_at: string;
}
export interface FlavorExtraSpecTable {
  flavorid: string;
  key: string;
  value: string;
}
export interface FlavorProjectTable {
  flavorid: string;
  project_id: string;
}

export interface InstanceTable {
  id: Generated<number>;
  uuid: string;
  display_name: string;
  display_description: string | null;
  project_id: string;
  user_id: string;
  image_ref: string;
  /** JSON snapshot of the flavor at create (Nova keeps it with the instance). */
  flavor: string;
  flavor_id: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  ephemeral_gb: number;
  vm_state: string;
  task_state: string | null;
  power_state: number;
  host: string | null;
  node: string | null;
  node_uuid: string | null;
  availability_zone: string | null;
  key_name: string | null;
  key_data: string | null;
  user_data: string | null;
  hostname: string;
  reservation_id: string;
  launch_index: number;
  locked: number;
  locked_by: string | null;
  config_drive: string;
  access_ip_v4: string | null;
  access_ip_v6: string | null;
  progress: number;
  /** JSON of the image meta at boot (ImageRef). */
  image_meta: string;
  /** JSON array of server tags. */
  tags: string;
  launched_at: string | null;
  terminated_at: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  /** 0 while live, the row id once deleted (Nova's soft-delete convention). */
  deleted: number;
  /** 006: OS-DCF:diskConfig, 1 = AUTO, 0 = MANUAL; NULL (older rows) reads as MANUAL. */
  auto_disk_config: ColumnType<number | null, number | null | undefined, number | null>;
  /** 006: the reason given to lock (2.73). */
  locked_reason: ColumnType<string | null, string | null | undefined, string | null>;
  /** 010: the snapshot a shelved instance is unshelved from (Nova's system_metadata shelved_image_id). */
  shelved_image_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** 010: when it was shelved (shelved_offload_time counts from it). */
  shelved_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** Nova's info cache: JSON CachedVif[] (schema-network.ts); null until the compute service fills it. */
  network_info: ColumnType<string | null, string | null | undefined, string | null>;
  /** The networks asked for at create (JSON: 'auto', 'none' or the request's list), for builds and reschedules. */
  requested_networks: ColumnType<string | null, string | null | undefined, string | null>;
}
/** 010: Nova's migration record, one per move (resize, migration, live-migration, evacuation). */
export interface MigrationTable {
  id: Generated<number>;
  uuid: string;
  instance_uuid: string;
  /** 'resize' | 'migration' | 'live-migration' | 'evacuation' (Nova's migration_type). */
  migration_type: string;
  /** Nova's statuses: pre-migrating, migrating, post-migrating, finished, confirming, confirmed, reverting, reverted, error (cold); accepted, preparing, queued, running, completed, cancelling, cancelled, failed, error (live); accepted, pre-migrating, done, completed, failed (evacuation). */
  status: string;
  source_compute: string | null;
  source_node: string | null;
  source_node_uuid: string | null;
  dest_compute: string | null;
  dest_node: string | null;
  dest_node_uuid: string | null;
  /** The destination host's address (Nova's dest_host); the host name here. */
  dest_host: string | null;
  /** JSON Flavor the instance had before (a resize keeps it for revert) and will have. */
  old_flavor: string | null;
  new_flavor: string | null;
  /** Live migration progress, bytes (null until the first report). */
  memory_total: number | null;
  memory_processed: number | null;
  memory_remaining: number | null;
  disk_total: number | null;
  disk_processed: number | null;
  disk_remaining: number | null;
  hidden: ColumnType<number, number | undefined, number>;
  user_id: string | null;
  project_id: string | null;
  created_at: string;
  updated_at: string | null;
  deleted_at: string | null;
  deleted: ColumnType<number, number | undefined, number>;
}
/** 010: a move, shelve or unshelve as the conductor drives it (conductor/task-engine.ts). */
export interface TaskFlowTable {
  uuid: string;
  /** 'resize' | 'migration' | 'live-migration' | 'evacuation' | 'shelve' | 'shelve-offload' | 'unshelve'. */
  kind: string;
  instance_uuid: string;
  migration_uuid: string | null;
  /** The step the flow reached: the next to run (or being run). */
  step: string;
  /** 'running' (a step to run), 'waiting' (for the user: a resize to confirm or revert), 'done'. */
  status: string;
  /** The conductor driving it; null: none yet (the API created it). */
  owner: string | null;
  /** ISO time the owner's lease ends; past it, any conductor may take the flow over. */
  lease_until: string;
  /** Tries of the current step (reset when a step advances). */
  attempt: ColumnType<number, number | undefined, number>;
  /** JSON: what the flow's steps need and learned. */
  payload: string;
  request_id: string;
  user_id: string | null;
  project_id: string | null;
  created_at: string;
  updated_at: string;
}
export interface InstanceMetadataTable {
  instance_uuid: string;
  key: string;
  value: string;
}
export interface InstanceFaultTable {
  id: Generated<number>;
  instance_uuid: string;
  code: number;
  message: string;
  details: string;
  host: string | null;
  created_at: string;
}
export interface InstanceActionTable {
  id: Generated<number>;
  instance_uuid: string;
  action: string;
  request_id: string;
  project_id: string;
  user_id: string;
  start_time: string;
  finish_time: string | null;
  message: string | null;
  updated_at: string;
}
export interface InstanceActionEventTable {
  id: Generated<number>;
  action_id: number;
  event: string;
  start_time: string;
  finish_time: string | null;
  result: string | null;
  traceback: string | null;
  host: string | null;
  details: string | null;
}

export interface KeyPairTable {
  id: Generated<number>;
  user_id: string;
  name: string;
  fingerprint: string;
  public_key: string;
  type: string;
  created_at: string;
}

export interface AggregateTable {
  id: Generated<number>;
  uuid: string;
  name: string;
  created_at: string;
  updated_at: string | null;
  deleted: number;
}
export interface AggregateHostTable {
  aggregate_id: number;
  host: string;
}
export interface AggregateMetadataTable {
  aggregate_id: number;
  key: string;
  value: string;
}

export interface ServiceTable {
  id: Generated<number>;
  uuid: string;
  host: string;
  binary: string;
  topic: string;
  disabled: number;
  disabled_reason: string | null;
  forced_down: number;
  last_seen_up: string | null;
  report_count: number;
  /** Highest RPC API version the service speaks (for pinning). */
  version: string;
  created_at: string;
  updated_at: string;
  deleted: number;
}

/** A compute node: the resource provider of one (host, node). */
export interface ComputeNodeTable {
  id: Generated<number>;
  uuid: string;
  host: string;
  hypervisor_hostname: string;
  hypervisor_type: string;
  hypervisor_version: number;
  host_ip: string;
  /** JSON CpuInfo. */
  cpu_info: string;
  /** When the node's driver started (ISO-8601), for the hypervisor's uptime; null when the driver does not say. */
  started_at: string | null;
  created_at: string;
  updated_at: string;
  deleted: number;
  /** Why the node takes no boots (gone from its back-end with instances left); null when usable. Since 004. */
  unavailable_reason: string | null;
}

/** The compute host serving one shared node, and the ownership generation (bumped on every move). Since 004. */
export interface NodeOwnerTable {
  node_uuid: string;
  cluster: string;
  owner_host: string;
  generation: number;
  updated_at: string;
}

/** A compute host of a clustered back-end, and when it last synced. Since 004. */
export interface ClusterMemberTable {
  cluster: string;
  host: string;
  last_seen: string;
}
/**
 * Inventory of one resource class on one node, with a running `used` counter so that a
 * claim is one conditional UPDATE and costs the same however many instances the node holds.
 */
export interface InventoryTable {
  node_uuid: string;
  resource_class: string;
  total: number;
  reserved: number;
  min_unit: number;
  max_unit: number;
  step_size: number;
  allocation_ratio: number;
  used: number;
}
export interface AllocationTable {
  consumer_uuid: string;
  node_uuid: string;
  resource_class: string;
  used: number;
}
/** A custom resource class Placement knows (standard classes are a fixed list, not rows). */
export interface ResourceClassTable {
  name: string;
  created_at: string;
}
export interface NodeTraitTable {
  node_uuid: string;
  trait: string;
}

export interface QuotaTable {
  project_id: string;
  resource: string;
  hard_limit: number;
}
/** os-quota-class-sets; Nova uses only the class `default`, whose rows override the configured defaults. */
export interface QuotaClassTable {
  class_name: string;
  resource: string;
  hard_limit: number;
}
/** Per-user limits within a project (os-quota-sets?user_id=). */
export interface ProjectUserQuotaTable {
  project_id: string;
  user_id: string;
  resource: string;
  hard_limit: number;
}

export interface ServerGroupTable {
  uuid: string;
  name: string;
  project_id: string;
  user_id: string;
  /** affinity | anti-affinity | soft-affinity | soft-anti-affinity */
  policy: string;
  /** JSON of the 2.64 rules: `{"max_server_per_host": n}` or `{}`. */
  rules: string;
  created_at: string;
}

export interface ServerGroupMemberTable {
  group_uuid: string;
  instance_uuid: string;
}

export interface InstancePasswordTable {
  instance_uuid: string;
  password: string;
}

export interface Database extends NetworkTables, NetworkL3Tables, IdentityTables, CatalogTables, ConsoleTables, BaremetalTables {
  migrations: MigrationTable;
  task_flows: TaskFlowTable;
  projects: ProjectTable;
  users: UserTable;
  roles: RoleTable;
  role_assignments: RoleAssignmentTable;
  implied_roles: ImpliedRoleTable;
  tokens: TokenTable;
  images: ImageTable;
  image_members: ImageMemberTable;
  flavors: FlavorTable;
  flavor_extra_specs: FlavorExtraSpecTable;
  flavor_projects: FlavorProjectTable;
  instances: InstanceTable;
  instance_metadata: InstanceMetadataTable;
  instance_faults: InstanceFaultTable;
  instance_actions: InstanceActionTable;
  instance_action_events: InstanceActionEventTable;
  key_pairs: KeyPairTable;
  aggregates: AggregateTable;
  aggregate_hosts: AggregateHostTable;
  aggregate_metadata: AggregateMetadataTable;
  services: ServiceTable;
  compute_nodes: ComputeNodeTable;
  inventories: InventoryTable;
  allocations: AllocationTable;
  node_traits: NodeTraitTable;
  resource_classes: ResourceClassTable;
  quotas: QuotaTable;
  server_groups: ServerGroupTable;
  server_group_members: ServerGroupMemberTable;
  instance_passwords: InstancePasswordTable;
  quota_classes: QuotaClassTable;
  project_user_quotas: ProjectUserQuotaTable;
  node_owners: NodeOwnerTable;
  cluster_members: ClusterMemberTable;
}
