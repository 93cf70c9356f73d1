import { imageTypeTrait } from '@orrery/virt-api';
import type { ImageMeta } from '../objects/compute.js';

/**
 * The image type prefilter (Nova's `query_placement_for_image_type_support`): the trait a node
 * needs to boot `image`, as drivers declare it through their imageFormats. A container image
 * (container_format docker) needs COMPUTE_IMAGE_TYPE_DOCKER whatever its disk_format says — the
 * Image API makes every image name a disk format, and a `docker save` tarball is uploaded as
 * `raw`, which a QEMU host would accept and fail to boot. Any other image needs its disk format.
 * Null when the image names no format (boot from volume, an image row without one): nothing to
 * require, as in Nova.
 */
export function requiredImageTypeTrait(image: Pick<ImageMeta, 'diskFormat' | 'containerFormat'>): string | null {
  if (image.containerFormat.toLowerCase() === 'docker') return imageTypeTrait('docker');
  return image.diskFormat === '' ? null : imageTypeTrait(image.diskFormat);
}
