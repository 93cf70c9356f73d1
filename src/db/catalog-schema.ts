/**
 * The tables of migration 013 (issue #22): the catalog, Keystone's credentials and Glance's
 * tasks. Booleans are 0/1, `extra`/`input`/`result` JSON text, timestamps ISO-8601 text.
 */

export interface RegionTable {
  id: string;
  description: string;
  parent_region_id: string | null;
  extra: string;
}

export interface CatalogServiceTable {
  id: string;
  type: string;
  name: string;
  enabled: number;
  extra: string;
}

export interface CatalogEndpointTable {
  id: string;
  service_id: string;
  /** 'public', 'internal' or 'admin'. */
  interface: string;
  region_id: string | null;
  url: string;
  enabled: number;
  extra: string;
}

export interface CredentialTable {
  id: string;
  user_id: string;
  project_id: string | null;
  type: string;
  encrypted_blob: string;
  key_hash: string;
  extra: string;
  created_at: string;
}

export interface ImageTaskTable {
  id: string;
  type: string;
  /** pending, processing, success or failure (Glance's). */
  status: string;
  owner: string;
  input: string;
  result: string | null;
  message: string;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface CatalogTables {
  regions: RegionTable;
  catalog_services: CatalogServiceTable;
  catalog_endpoints: CatalogEndpointTable;
  credentials: CredentialTable;
  image_tasks: ImageTaskTable;
}
