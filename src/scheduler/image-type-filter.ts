import { imageTypeOf, imageTypeTrait } from '@orrery/virt-api';
import type { ImageMeta } from '../objects/compute.js';

/**
 * The image type prefilter (Nova's `query_placement_for_image_type_support`): the trait a node
 * needs to boot `image` — COMPUTE_IMAGE_TYPE_DOCKER for a container image, else its disk
 * format's (imageTypeOf: the type the driver's guard checks at spawn). Null when the image names
 * no disk format (boot from volume, an image row without one): nothing to require, as in Nova.
 */
export function requiredImageTypeTrait(image: Pick<ImageMeta, 'diskFormat' | 'containerFormat'>): string | null {
  const type = imageTypeOf(image);
  return type === '' ? null : imageTypeTrait(type);
}
