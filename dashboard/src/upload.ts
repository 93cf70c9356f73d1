import { ApiError, url } from './api.js';
import { session } from './session.js';

/**
 * An image's data sent with XMLHttpRequest, whose upload events report progress (fetch has no
 * upload progress in browsers). PUT /v2/images/{id}/file, streamed through the dashboard.
 */
export function uploadImageData(imageId: string, file: Blob, onProgress: (sent: number, total: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url('image', `/v2/images/${encodeURIComponent(imageId)}/file`));
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('x-auth-token', session()?.token ?? '');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new ApiError(xhr.status, `upload failed: HTTP ${xhr.status} ${xhr.responseText.slice(0, 200)}`)));
    xhr.onerror = () => reject(new Error('upload failed: the connection was lost'));
    xhr.send(file);
  });
}
