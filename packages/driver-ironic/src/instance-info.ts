/**
 * The node's instance_info for a spawn, in the keys Nova's ironic driver writes: the image by
 * its image-service id (the Bare Metal service fetches it, and an ami image's kernel_id and
 * ramdisk_id, from the image API), the flavor's sizes and required traits, and who the instance is for.
 */
import type { InstanceSpec } from '@orrery/virt-api';

export function instanceInfoOf(spec: InstanceSpec): Record<string, string | number | string[]> {
  const info: Record<string, string | number | string[]> = {
    image_source: spec.image.id,
    image_disk_format: spec.image.diskFormat,
    image_container_format: spec.image.containerFormat,
    root_gb: spec.flavor.rootGb,
    ephemeral_gb: spec.flavor.ephemeralGb,
    swap_mb: spec.flavor.swapMb,
    vcpus: spec.flavor.vcpus,
    memory_mb: spec.flavor.memoryMb,
    display_name: spec.name,
    project_id: spec.projectId,
  };
  if (spec.image.checksum) info['image_checksum'] = spec.image.checksum;
  // Ironic reads kernel and ramdisk from instance_info for an image it does not look up itself.
  const kernel = spec.image.properties['kernel_id'];
  const ramdisk = spec.image.properties['ramdisk_id'];
  if (kernel) info['kernel'] = kernel;
  if (ramdisk) info['ramdisk'] = ramdisk;
  // The flavor's required traits: Ironic refuses the deploy of a node that lacks one (and may configure the node by them).
  const traits = Object.entries(spec.flavor.extraSpecs)
    .filter(([k, v]) => k.startsWith('trait:') && v === 'required')
    .map(([k]) => k.slice('trait:'.length));
  if (traits.length > 0) info['traits'] = traits;
  return info;
}
