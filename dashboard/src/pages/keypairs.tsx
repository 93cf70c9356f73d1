import { useState } from 'preact/hooks';
import { call } from '../session.js';
import { listKeypairs } from '../pickers.js';
import type { Keypair } from '../types.js';
import { ErrorLine, Page, Table, useLoad } from '../ui.js';

/** Import a public key, or have the API generate a pair (2.1–2.91) and show its private key once. */
export function KeypairsPage() {
  const keys = useLoad(listKeypairs);
  const [error, setError] = useState('');
  const [privateKey, setPrivateKey] = useState('');
  const submit = (e: Event): void => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const pub = String(f.get('public_key')).trim();
    setError('');
    call<{ keypair: Keypair & { private_key?: string } }>('compute', 'POST', '/v2.1/os-keypairs', {
      body: { keypair: { name: String(f.get('name')).trim(), ...(pub ? { public_key: pub } : {}) } },
    }).then((r) => {
      setPrivateKey(r.body.keypair.private_key ?? '');
      form.reset();
      keys.reload();
    }, (err: Error) => setError(err.message));
  };
  const remove = (name: string): void => {
    if (confirm(`Delete key pair ${name}?`)) call('compute', 'DELETE', `/v2.1/os-keypairs/${encodeURIComponent(name)}`).then(keys.reload, (err: Error) => setError(err.message));
  };
  return (
    <Page title="Key pairs">
      <ErrorLine error={keys.error || error} />
      <Table testid="keypairs" rows={keys.data} rowKey={(k) => k.name}
        cols={[['Name', (k) => k.name], ['Type', (k) => k.type ?? 'ssh'], ['Fingerprint', (k) => <code>{k.fingerprint}</code>],
          ['', (k) => <button type="button" class="danger" onClick={() => remove(k.name)}>Delete</button>]]} />
      <form class="stack" onSubmit={submit}>
        <h3>Create or import a key pair</h3>
        <label>Name <input name="name" required maxLength={255} /></label>
        <label>Public key (empty: generate a new pair) <textarea name="public_key" rows={3} /></label>
        <button type="submit">Create</button>
      </form>
      {privateKey && <div class="card"><h3>Private key — shown once, save it now</h3><pre class="console-log">{privateKey}</pre></div>}
    </Page>
  );
}
