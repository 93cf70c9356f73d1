import { ImageError, ImageNotFound, ImageServiceUnavailable, isDriverError, type DriverError, type ImageService } from '@orrery/virt-api';
import { ImageClient } from '../clients/image-client.js';
import type { IdentityClient } from '../clients/identity-client.js';
import { errorMessage, statusOf } from '../common/errors.js';

/**
 * The image API as a driver sees it: found through the catalog and called with the service
 * user's token — never the image store's files. Its failures are the contract's typed errors
 * (1.1), so no driver reads HTTP statuses: 404 is ImageNotFound; the service unreachable, a 5xx
 * or our own credentials refused is ImageServiceUnavailable; any other refusal is ImageError.
 */
export function driverImageService(identity: IdentityClient): ImageService {
  return typedImageService(new ImageClient(identity));
}

/** The typed ImageService over an image client (exported for tests, with any client). */
export function typedImageService(images: Pick<ImageClient, 'downloadImage' | 'uploadImage'>): ImageService {
  return {
    download: async (imageId) => {
      const source = images.downloadImage(imageId)[Symbol.asyncIterator]();
      // The request is made (and refused) before the first chunk: start it here, so that
      // download() itself rejects with the typed error.
      let first: IteratorResult<Uint8Array>;
      try {
        first = await source.next();
      } catch (err) {
        throw imageServiceError(err, `download image ${imageId}`);
      }
      return (async function* () {
        try {
          if (first.done) return;
          yield first.value;
          for (let r = await source.next(); !r.done; r = await source.next()) yield r.value;
        } catch (err) {
          throw imageServiceError(err, `download image ${imageId}`);
        }
      })();
    },
    upload: async (imageId, data) => {
      try {
        await images.uploadImage(imageId, data);
      } catch (err) {
        throw imageServiceError(err, `upload to image ${imageId}`);
      }
    },
  };
}

/** What an image API failure means to a driver. */
export function imageServiceError(err: unknown, what: string): DriverError {
  if (isDriverError(err)) return err;
  const status = statusOf(err);
  const message = `${what}: ${errorMessage(err)}`;
  if (status === 404) return new ImageNotFound(message, { cause: err });
  if (status === undefined || status >= 500 || status === 401) return new ImageServiceUnavailable(message, { cause: err });
  return new ImageError(message, { cause: err });
}
