import { Fragment } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { call } from '../session.js';
import { go, href } from '../router.js';
import type { Server } from '../types.js';
import { ErrorLine, Page, Table, useInterval, useLoad } from '../ui.js';
import { ConsoleTab } from '../console/console-tab.js';
import { ServerButtons } from './server-buttons.js';
import { addressesOf, StatusBadge } from './servers.js';

const TABS: Array<[string, string]> = [['overview', 'Overview'], ['log', 'Console log'], ['events', 'Actions and events'], ['console', 'Console']];

interface InstanceAction {
  action: string;
  request_id: string;
  start_time: string;
  message: string | null;
  events?: Array<{ event: string; start_time: string; finish_time: string | null; result: string | null }>;
}

function Overview(props: { server: Server }) {
  const s = props.server;
  const imageId = s.image ? s.image.id : '';
  // The image's name from the image API; an image gone or not visible to the user shows its id.
  const image = useLoad(async () => (imageId ? (await call<{ name: string | null }>('image', 'GET', `/v2/images/${imageId}`)).body.name ?? imageId : ''), [imageId]);
  const rows: Array<[string, string]> = [
    ['ID', s.id], ['Status', s.status], ['Task', s['OS-EXT-STS:task_state'] ?? ''], ['Flavor', s.flavor?.original_name ?? ''],
    ['vCPUs / RAM / disk', s.flavor ? `${s.flavor.vcpus ?? ''} / ${s.flavor.ram ?? ''} MiB / ${s.flavor.disk ?? ''} GiB` : ''],
    ['Image', imageId ? (image.data ?? imageId) : '(volume)'], ['Key pair', s.key_name ?? ''], ['Addresses', addressesOf(s)],
    ['Zone', s['OS-EXT-AZ:availability_zone'] ?? ''], ['Host', s['OS-EXT-SRV-ATTR:host'] ?? ''], ['Created', s.created],
  ];
  if (s.fault) rows.push(['Fault', s.fault.message]);
  return <dl class="facts">{rows.map(([k, v]) => <Fragment key={k}><dt>{k}</dt><dd>{v}</dd></Fragment>)}</dl>;
}

/** The guest's console output (os-getConsoleOutput), the last LINES lines, refreshed on demand. */
const LINES = 200;
function ConsoleLog(props: { server: Server }) {
  const log = useLoad(async () => (await call<{ output: string }>('compute', 'POST', `/v2.1/servers/${props.server.id}/action`, { body: { 'os-getConsoleOutput': { length: LINES } } })).body.output, [props.server.id]);
  return (
    <div>
      <button type="button" onClick={log.reload}>Refresh</button>
      <ErrorLine error={log.error} />
      <pre class="console-log" data-testid="console-log">{log.data ?? 'Loading…'}</pre>
    </div>
  );
}

function Events(props: { server: Server }) {
  const actions = useLoad(async () => {
    const list = (await call<{ instanceActions: InstanceAction[] }>('compute', 'GET', `/v2.1/servers/${props.server.id}/os-instance-actions`)).body.instanceActions;
    // Each action's events come with its own GET; the list is short (one per user action).
    return Promise.all(list.slice(0, 20).map(async (a) =>
      (await call<{ instanceAction: InstanceAction }>('compute', 'GET', `/v2.1/servers/${props.server.id}/os-instance-actions/${a.request_id}`)).body.instanceAction));
  }, [props.server.id, props.server.status]);
  return (
    <div>
      <ErrorLine error={actions.error} />
      <Table testid="instance-actions" rows={actions.data} rowKey={(a) => a.request_id}
        cols={[
          ['Action', (a) => a.action], ['Started', (a) => a.start_time], ['Message', (a) => a.message ?? ''],
          ['Events', (a) => (a.events ?? []).map((e) => `${e.event}: ${e.result ?? 'running'}`).join('; ')],
          ['Request', (a) => <code>{a.request_id}</code>],
        ]} />
    </div>
  );
}

/** One server: its facts and actions, console log, instance actions and events, interactive console. */
export function ServerDetailPage(props: { id: string; tab: string }) {
  const [server, setServer] = useState<Server | undefined>(undefined);
  const [error, setError] = useState('');
  const load = useCallback(() => {
    call<{ server: Server }>('compute', 'GET', `/v2.1/servers/${encodeURIComponent(props.id)}`).then((r) => { setServer(r.body.server); setError(''); },
      (err: Error & { status?: number }) => setError(err.status === 404 ? 'This server does not exist (any more).' : err.message));
  }, [props.id]);
  useEffect(load, [load]);
  useInterval(load, 2000);
  return (
    <Page title={server ? `Server ${server.name}` : 'Server'} actions={server && <><StatusBadge server={server} /><ServerButtons server={server} done={load} onDeleted={() => go('servers')} /></>}>
      <ErrorLine error={error} />
      <div class="tabs" role="tablist">
        {TABS.map(([id, label]) => <a key={id} role="tab" aria-selected={props.tab === id} class={props.tab === id ? 'active' : ''} href={href('servers', props.id, id)}>{label}</a>)}
      </div>
      {server && (props.tab === 'log' ? <ConsoleLog server={server} />
        : props.tab === 'events' ? <Events server={server} />
        : props.tab === 'console' ? <ConsoleTab server={server} />
        : <Overview server={server} />)}
    </Page>
  );
}
