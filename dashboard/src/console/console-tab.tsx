import { useState } from 'preact/hooks';
import type { Server } from '../types.js';
import { SerialConsole } from './serial-console.js';
import { VncConsole } from './vnc-console.js';
import type { ConsoleChoice } from './remote-console.js';

/**
 * The server detail's "Console" tab: the guest's interactive console in the browser — its screen
 * through noVNC, or its serial port as a terminal — over the remote-consoles API and the
 * token-checked console proxies. Only a running guest has one.
 */
export function ConsoleTab(props: { server: Server }) {
  const [kind, setKind] = useState<ConsoleChoice>('novnc');
  if (props.server.status !== 'ACTIVE') {
    return <p class="muted" data-testid="console-unavailable">The console is there while the server is ACTIVE; it is {props.server.status}.</p>;
  }
  return (
    <div data-testid="console-tab">
      <div class="console-kinds" role="radiogroup" aria-label="Console">
        {([['novnc', 'Screen (VNC)'], ['serial', 'Serial console']] as Array<[ConsoleChoice, string]>).map(([k, label]) => (
          <label key={k}><input type="radio" name="console-kind" value={k} checked={kind === k} onChange={() => setKind(k)} /> {label}</label>
        ))}
      </div>
      {kind === 'novnc' ? <VncConsole key={props.server.id} server={props.server} /> : <SerialConsole key={props.server.id} server={props.server} />}
    </div>
  );
}
