import { useState } from 'preact/hooks';
import { call } from '../session.js';
import { SERVER_ACTIONS } from '../server-actions.js';
import type { Server } from '../types.js';

/** The actions a server's status allows, and delete; `done` is told after the API accepted one. */
export function ServerButtons(props: { server: Server; done(): void; onDeleted?(): void }) {
  const [error, setError] = useState('');
  const s = props.server;
  const run = (what: string, p: Promise<unknown>): void => {
    setError('');
    p.then(() => (what === 'delete' && props.onDeleted ? props.onDeleted() : props.done()), (err: Error) => setError(`${what}: ${err.message}`));
  };
  const busy = Boolean(s['OS-EXT-STS:task_state']);
  return (
    <span class="buttons">
      {SERVER_ACTIONS.filter((a) => a.when.includes(s.status)).map((a) => (
        <button type="button" key={a.id} data-action={a.id} disabled={busy}
          onClick={() => run(a.label, call('compute', 'POST', `/v2.1/servers/${s.id}/action`, { body: a.body }))}>{a.label}</button>
      ))}
      <button type="button" class="danger" data-action="delete" onClick={() => {
        if (confirm(`Delete server ${s.name}?`)) run('delete', call('compute', 'DELETE', `/v2.1/servers/${s.id}`));
      }}>Delete</button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}
