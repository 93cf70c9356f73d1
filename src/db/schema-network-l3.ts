/**
 * The L3 tables added by migration 012_net_l3_auto_allocated: Neutron's auto_allocated_topologies
 * (get-me-a-network), one row per project, whose unique `cidr` is the /24 the project's
 * auto-allocated subnet was given from `[network] auto_allocate_subnet_pool`.
 */
export interface AutoAllocatedTopologyTable {
  /** The primary key: one topology per project, claimed before anything is made. */
  project_id: string;
  /** The /24 claimed for the project (unique: two projects never get one). */
  cidr: string;
  /** Null while the topology is being made. */
  network_id: string | null;
  subnet_id: string | null;
  router_id: string | null;
  created_at: string;
}

export interface NetworkL3Tables {
  auto_allocated_topologies: AutoAllocatedTopologyTable;
}
