import { href } from '../router.js';
import { useServersFeed } from '../servers-feed.js';
import { STEADY } from '../server-actions.js';
import type { Server } from '../types.js';
import { ErrorLine, Page, Table } from '../ui.js';
import { ServerButtons } from './server-buttons.js';

export function addressesOf(s: Server): string {
  return Object.entries(s.addresses ?? {}).map(([net, as]) => `${net}: ${as.map((a) => a.addr).join(', ')}`).join('; ');
}

export function StatusBadge(props: { server: Server }) {
  const s = props.server;
  const task = s['OS-EXT-STS:task_state'];
  const cls = s.status === 'ERROR' ? 'bad' : STEADY.has(s.status) ? (s.status === 'ACTIVE' ? 'good' : 'idle') : 'busy';
  return <span class={`status ${cls}`} data-status={s.status}>{s.status}{task ? ` (${task})` : ''}</span>;
}

/** The project's servers with their status kept live (servers-feed.ts). */
export function ServersPage() {
  const feed = useServersFeed();
  return (
    <Page title="Servers" actions={<a class="button" href={href('servers', 'new')}>Create server</a>}>
      <ErrorLine error={feed.error} />
      <Table testid="servers" rows={feed.servers} rowKey={(s) => s.id} empty="No servers yet."
        cols={[
          ['Name', (s) => <a href={href('servers', s.id)}>{s.name}</a>],
          ['Status', (s) => <StatusBadge server={s} />],
          ['Flavor', (s) => s.flavor?.original_name ?? ''],
          ['Addresses', addressesOf],
          ['Zone', (s) => s['OS-EXT-AZ:availability_zone'] ?? ''],
          ['Actions', (s) => <ServerButtons server={s} done={feed.refresh} />],
        ]} />
    </Page>
  );
}
