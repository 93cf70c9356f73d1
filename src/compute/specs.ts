import type { FlavorSpec, ImageRef, InstanceRef, InstanceSpec, NetworkInfo } from '@orrery/virt-api';
import type { Flavor, ImageMeta, Instance } from '../objects/compute.js';

/** Translations from Orrery's objects to the driver contract's typed inputs. */

export function flavorSpec(f: Flavor): FlavorSpec {
  return {
    id: f.flavorid, name: f.name, vcpus: f.vcpus, memoryMb: f.memoryMb, rootGb: f.rootGb,
    ephemeralGb: f.ephemeralGb, swapMb: f.swap, extraSpecs: { ...f.extraSpecs },
  };
}

export function imageRef(m: ImageMeta): ImageRef {
  return {
    id: m.id, name: m.name, diskFormat: m.diskFormat, containerFormat: m.containerFormat, size: m.size,
    checksum: m.checksum, minDiskGb: m.minDisk, minRamMb: m.minRam, properties: { ...m.properties },
  };
}

/** `network`: the instance's VIFs (compute/networking.ts); none when it has no ports. */
export function instanceSpec(i: Instance, image: ImageMeta = i.imageMeta, network: NetworkInfo = { ports: [] }): InstanceSpec {
  if (!i.node) throw new Error(`instance ${i.uuid} has no node`);
  return {
    uuid: i.uuid, name: i.name, node: i.node, projectId: i.projectId, userId: i.userId,
    flavor: flavorSpec(i.flavor), image: imageRef(image), network,
    metadata: { ...i.metadata }, userData: i.userData, keyData: i.keyData,
  };
}

export function instanceRef(i: Instance): InstanceRef {
  if (!i.node) throw new Error(`instance ${i.uuid} has no node`);
  return { uuid: i.uuid, node: i.node };
}
