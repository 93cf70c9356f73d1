/**
 * The tables added by migration 016_baremetal: the Bare Metal service's nodes, their ports
 * (MAC addresses) and every step done to a node (Ironic's node history). JSON documents are
 * stored as text; booleans as 0/1.
 */
export interface BmNodeTable {
  uuid: string;
  name: string | null;
  /** Ironic's hardware type: ipmi or fake-hardware. */
  driver: string;
  /** JSON object: driver_info without its secret keys. */
  driver_info: string;
  /** The secret keys of driver_info (ipmi_password, …) as one JSON object, sealed (base64), or null. */
  driver_secrets: string | null;
  /** sha256 of the credential key that sealed driver_secrets. */
  driver_secrets_key: string | null;
  /** JSON object: cpus, memory_mb, local_gb, cpu_arch, capabilities… */
  properties: string;
  /** JSON object: the operator's own keys. */
  extra: string;
  resource_class: string | null;
  provision_state: string;
  target_provision_state: string | null;
  /** When provision_state last changed (ISO). */
  provision_updated_at: string | null;
  /** power on / power off / null (unknown). */
  power_state: string | null;
  target_power_state: string | null;
  maintenance: number;
  maintenance_reason: string | null;
  last_error: string | null;
  instance_uuid: string | null;
  /** JSON object: what to deploy (image_source, kernel, ramdisk, …). */
  instance_info: string;
  /** pxe / disk / null (never set). */
  boot_device: string | null;
  boot_device_persistent: number;
  /** The conductor host holding the node's lock, or null. */
  reservation: string | null;
  /** ISO time after which the reservation no longer holds. */
  reservation_expires_at: string | null;
  created_at: string;
  updated_at: string | null;
}

export interface BmPortTable {
  uuid: string;
  node_uuid: string;
  /** MAC address, lower case, colon separated. */
  address: string;
  pxe_enabled: number;
  /** JSON object. */
  extra: string;
  created_at: string;
  updated_at: string | null;
}

export interface BmNodeHistoryTable {
  uuid: string;
  node_uuid: string;
  /** The step: e.g. power on, set boot device, deploy, clean, power sync. */
  event: string;
  /** INFO / WARNING / ERROR. */
  severity: string;
  message: string;
  /** The conductor host that did it. */
  conductor: string | null;
  created_at: string;
}

export interface BaremetalTables {
  bm_nodes: BmNodeTable;
  bm_ports: BmPortTable;
  bm_node_history: BmNodeHistoryTable;
}
