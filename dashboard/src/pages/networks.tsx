import { useState } from 'preact/hooks';
import { call } from '../session.js';
import { listNetworks } from '../pickers.js';
import type { Network } from '../types.js';
import { ErrorLine, Page, Table, useLoad } from '../ui.js';

interface Subnet {
  id: string;
  name: string;
  cidr: string;
  network_id: string;
}

/** Networks with their subnets; a new network is created with one subnet, or not at all. */
export function NetworksPage() {
  const data = useLoad(async () => {
    const [networks, subnets] = await Promise.all([
      listNetworks(), call<{ subnets: Subnet[] }>('network', 'GET', '/v2.0/subnets').then((r) => r.body.subnets),
    ]);
    return { networks, subnets: new Map(subnets.map((s) => [s.id, s])) };
  });
  const [error, setError] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    setError('');
    let id: string | null = null;
    try {
      id = (await call<{ network: Network }>('network', 'POST', '/v2.0/networks', { body: { network: { name: String(f.get('name')).trim() } } })).body.network.id;
      await call('network', 'POST', '/v2.0/subnets', { body: { subnet: { network_id: id, ip_version: 4, cidr: String(f.get('cidr')).trim(), name: `${String(f.get('name')).trim()}-subnet` } } });
      form.reset();
    } catch (err) {
      setError((err as Error).message);
      if (id !== null) await call('network', 'DELETE', `/v2.0/networks/${id}`).catch(() => undefined);
    }
    data.reload();
  };
  const remove = (n: Network): void => {
    if (confirm(`Delete network ${n.name || n.id}?`)) call('network', 'DELETE', `/v2.0/networks/${n.id}`).then(data.reload, (err: Error) => setError(err.message));
  };
  return (
    <Page title="Networks">
      <ErrorLine error={data.error || error} />
      <Table testid="networks" rows={data.data?.networks} rowKey={(n) => n.id}
        cols={[
          ['Name', (n) => n.name || n.id], ['Status', (n) => n.status],
          ['Subnets', (n) => n.subnets.map((s) => data.data?.subnets.get(s)?.cidr ?? s).join(', ')],
          ['Shared', (n) => (n.shared ? 'yes' : 'no')], ['External', (n) => (n['router:external'] ? 'yes' : 'no')],
          ['', (n) => <button type="button" class="danger" onClick={() => remove(n)}>Delete</button>],
        ]} />
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <h3>Create a network</h3>
        <label>Name <input name="name" required maxLength={255} /></label>
        <label>Subnet (IPv4 CIDR) <input name="cidr" required placeholder="192.168.10.0/24" /></label>
        <button type="submit">Create</button>
      </form>
    </Page>
  );
}
