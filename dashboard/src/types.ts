/** The shapes of the public APIs' bodies that the pages read (the fields they use, not every field). */

export interface Server {
  id: string;
  name: string;
  status: string;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-STS:power_state'?: number;
  'OS-EXT-AZ:availability_zone'?: string;
  'OS-EXT-SRV-ATTR:host'?: string | null;
  addresses?: Record<string, Array<{ addr: string; version: number }>>;
  flavor?: { original_name?: string; vcpus?: number; ram?: number; disk?: number };
  image?: { id: string } | '';
  key_name?: string | null;
  created: string;
  updated?: string;
  fault?: { message: string; code: number };
}

export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  'os-flavor-access:is_public'?: boolean;
}

export interface Image {
  id: string;
  name: string | null;
  status: string;
  size: number | null;
  disk_format?: string | null;
  container_format?: string | null;
  visibility: string;
  created_at: string;
}

export interface Network {
  id: string;
  name: string;
  status: string;
  shared?: boolean;
  'router:external'?: boolean;
  subnets: string[];
  project_id?: string;
}

export interface Keypair {
  name: string;
  fingerprint: string;
  type?: string;
  public_key?: string;
}
