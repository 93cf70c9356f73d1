import { useState } from 'preact/hooks';
import { call } from '../session.js';
import { go } from '../router.js';
import { listFlavors, listImages, listKeypairs, listNetworks, listZones } from '../pickers.js';
import { ErrorLine, Page, useLoad } from '../ui.js';

/** POST /servers with the pickers' choices; networks 'auto'/'none' are the 2.37 forms. */
export function ServerCreatePage() {
  const choices = useLoad(async () => {
    const [images, flavors, networks, keypairs, zones] = await Promise.all([
      listImages(), listFlavors(), listNetworks().catch(() => []), listKeypairs(), listZones().catch(() => []),
    ]);
    return { images: images.filter((i) => i.status === 'active'), flavors: flavors.sort((a, b) => a.ram - b.ram || a.vcpus - b.vcpus), networks, keypairs, zones };
  });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = (e: Event): void => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const network = String(f.get('network'));
    const server: Record<string, unknown> = {
      name: String(f.get('name')).trim(),
      imageRef: String(f.get('image')),
      flavorRef: String(f.get('flavor')),
      networks: network === 'none' || network === 'auto' ? network : [{ uuid: network }],
    };
    if (f.get('key')) server.key_name = String(f.get('key'));
    if (f.get('zone')) server.availability_zone = String(f.get('zone'));
    setBusy(true);
    setError('');
    call<{ server: { id: string } }>('compute', 'POST', '/v2.1/servers', { body: { server } })
      .then(() => go('servers'), (err: Error) => setError(err.message))
      .finally(() => setBusy(false));
  };
  const c = choices.data;
  return (
    <Page title="Create server">
      <ErrorLine error={choices.error} />
      {c && (
        <form class="stack" onSubmit={submit} data-testid="create-server">
          <label>Name <input name="name" required maxLength={255} /></label>
          <label>Image
            <select name="image" required>{c.images.map((i) => <option key={i.id} value={i.id}>{i.name ?? i.id}</option>)}</select>
          </label>
          <label>Flavor
            <select name="flavor" required>{c.flavors.map((fl) => <option key={fl.id} value={fl.id}>{fl.name} ({fl.vcpus} vCPU, {fl.ram} MiB, {fl.disk} GiB)</option>)}</select>
          </label>
          <label>Network
            <select name="network">
              <option value="none">No network</option>
              {c.networks.map((n) => <option key={n.id} value={n.id}>{n.name || n.id}</option>)}
              <option value="auto">Allocate one (auto)</option>
            </select>
          </label>
          <label>Key pair
            <select name="key"><option value="">None</option>{c.keypairs.map((k) => <option key={k.name} value={k.name}>{k.name}</option>)}</select>
          </label>
          <label>Availability zone
            <select name="zone"><option value="">Any</option>{c.zones.filter((z) => z.zoneState.available).map((z) => <option key={z.zoneName} value={z.zoneName}>{z.zoneName}</option>)}</select>
          </label>
          <button type="submit" disabled={busy}>Create</button>
          <ErrorLine error={error} />
        </form>
      )}
    </Page>
  );
}
