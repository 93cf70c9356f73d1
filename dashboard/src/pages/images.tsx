import { useState } from 'preact/hooks';
import { call } from '../session.js';
import { listImages } from '../pickers.js';
import { uploadImageData } from '../upload.js';
import { bytes, ErrorLine, Page, Table, useLoad } from '../ui.js';

const DISK_FORMATS = ['qcow2', 'raw', 'vmdk', 'vdi', 'iso', 'vhd', 'vhdx', 'ami', 'ari', 'aki'];
const CONTAINER_FORMATS = ['bare', 'ovf', 'ova', 'docker', 'ami', 'ari', 'aki'];

/** Creates the image record, then sends its data with a progress bar; a failed upload deletes the record it made. */
function UploadForm(props: { done(): void }) {
  const [progress, setProgress] = useState<[number, number] | null>(null);
  const [error, setError] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const file = f.get('file') as File;
    setError('');
    setProgress([0, file.size]);
    let id: string | null = null;
    try {
      id = (await call<{ id: string }>('image', 'POST', '/v2/images', {
        body: { name: String(f.get('name')) || file.name, disk_format: String(f.get('disk_format')), container_format: String(f.get('container_format')) },
      })).body.id;
      await uploadImageData(id, file, (sent, total) => setProgress([sent, total]));
      form.reset();
      props.done();
    } catch (err) {
      setError((err as Error).message);
      if (id !== null) await call('image', 'DELETE', `/v2/images/${id}`).catch(() => undefined);
    } finally {
      setProgress(null);
    }
  };
  return (
    <form class="stack" onSubmit={(e) => void submit(e)} data-testid="upload-image">
      <h3>Upload an image</h3>
      <label>Name <input name="name" maxLength={255} placeholder="(the file's name)" /></label>
      <label>File <input name="file" type="file" required /></label>
      <label>Disk format <select name="disk_format">{DISK_FORMATS.map((d) => <option key={d}>{d}</option>)}</select></label>
      <label>Container format <select name="container_format">{CONTAINER_FORMATS.map((d) => <option key={d}>{d}</option>)}</select></label>
      <button type="submit" disabled={progress !== null}>Upload</button>
      {progress && <label>Uploading {bytes(progress[0])} of {bytes(progress[1])}<progress max={progress[1] || 1} value={progress[0]} /></label>}
      <ErrorLine error={error} />
    </form>
  );
}

export function ImagesPage() {
  const images = useLoad(listImages);
  const [error, setError] = useState('');
  const remove = (id: string, name: string): void => {
    if (!confirm(`Delete image ${name}?`)) return;
    call('image', 'DELETE', `/v2/images/${id}`).then(images.reload, (err: Error) => setError(err.message));
  };
  return (
    <Page title="Images">
      <ErrorLine error={images.error || error} />
      <Table testid="images" rows={images.data} rowKey={(i) => i.id}
        cols={[
          ['Name', (i) => i.name ?? i.id], ['Status', (i) => i.status], ['Size', (i) => bytes(i.size)],
          ['Format', (i) => `${i.disk_format ?? ''} / ${i.container_format ?? ''}`], ['Visibility', (i) => i.visibility],
          ['', (i) => <button type="button" class="danger" onClick={() => remove(i.id, i.name ?? i.id)}>Delete</button>],
        ]} />
      <UploadForm done={images.reload} />
    </Page>
  );
}
