import type { ImageService } from '@orrery/virt-api';
import { ImageClient } from '../clients/image-client.js';
import type { IdentityClient } from '../clients/identity-client.js';

/**
 * The image API as a driver sees it: found through the catalog and called with the service
 * user's token — never the image store's files.
 */
export function driverImageService(identity: IdentityClient): ImageService {
  const images = new ImageClient(identity);
  return {
    download: async (imageId) => images.downloadImage(imageId),
    upload: (imageId, data) => images.uploadImage(imageId, data),
  };
}
