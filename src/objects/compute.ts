import { registerObject } from './envelope.js';
import type { NetworkRequest, VifInfo } from './network.js';

/** Versioned domain objects of the compute service; each travels as an envelope. */

export interface Flavor {
  flavorid: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  ephemeralGb: number;
  swap: number;
  rxtxFactor: number;
  isPublic: boolean;
  disabled: boolean;
  description: string | null;
  extraSpecs: Record<string, string>;
}
registerObject('Flavor', '1.0');

/** Image metadata as the compute service needs it (from the image API). */
export interface ImageMeta {
  id: string;
  name: string;
  status: string;
  diskFormat: string;
  containerFormat: string;
  size: number;
  checksum: string | null;
  minDisk: number;
  minRam: number;
  properties: Record<string, string>;
}
registerObject('ImageMeta', '1.0');

export interface Instance {
  uuid: string;
  name: string;
  /** The guest's hostname. Since 1.1; absent in an Instance from a 1.0 sender. */
  hostname?: string;
  description: string | null;
  projectId: string;
  userId: string;
  imageRef: string;
  flavor: Flavor;
  imageMeta: ImageMeta;
  vmState: string;
  taskState: string | null;
  powerState: number;
  host: string | null;
  node: string | null;
  nodeUuid: string | null;
  availabilityZone: string | null;
  keyName: string | null;
  keyData: string | null;
  userData: string | null;
  metadata: Record<string, string>;
  locked: boolean;
  launchedAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** The info cache: the server's ports (1.2; absent from older senders and for a server with none yet). */
  networkInfo?: VifInfo[] | null;
}
/** 1.1 added hostname; 1.2 networkInfo. */
registerObject('Instance', '1.2', {
  '1.1': ({ networkInfo: _added, ...older }) => older,
  '1.0': ({ hostname: _added, ...older }) => older,
});

/** What the scheduler needs to place instances. */
export interface RequestSpec {
  instanceUuids: string[];
  projectId: string;
  userId: string;
  flavor: Flavor;
  image: ImageMeta;
  /** Requested availability zone, or null for any. */
  availabilityZone: string | null;
  /** Hosts that already failed this request (reschedules). */
  ignoreHosts: string[];
  /** Admin-forced host and node (availability_zone "az:host:node"). */
  forceHost: string | null;
  forceNode: string | null;
  attempt: number;
  /** 1.1: the networks the create asked for (absent: none, as before networking). */
  network?: NetworkRequest;
}
/** 1.1 added network. */
registerObject('RequestSpec', '1.1', {
  '1.0': ({ network: _added, ...older }) => older,
});

export interface Selection {
  instanceUuid: string;
  host: string;
  node: string;
  nodeUuid: string;
  availabilityZone: string | null;
}
registerObject('Selection', '1.0');

/** A node as a compute service reports it to the conductor. */
export interface ComputeNodeReport {
  uuid: string;
  host: string;
  node: string;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  cpuInfo: unknown;
  inventory: Record<string, {
    total: number; reserved: number; minUnit: number; maxUnit: number; stepSize: number; allocationRatio: number;
  }>;
  traits: string[];
  /** When the node's host started (ms since the epoch), when its driver says; older computes leave it out. */
  startedAt?: number;
}
registerObject('ComputeNodeReport', '1.0');
