import { useEffect, useState } from 'preact/hooks';
import type { Server } from '../types.js';
import { consoleUrl } from './remote-console.js';

/**
 * The guest's screen: the noVNC page the console proxy serves for the URL (its own origin, so
 * the token never enters this page's scripts' reach beyond the frame's address), in a frame.
 * "Reconnect" asks for a new URL, as an expired token needs.
 */
export function VncConsole(props: { server: Server }) {
  const [url, setUrl] = useState('');
  const [error, setError] = useState('');
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setUrl('');
    consoleUrl(props.server.id, 'novnc').then((u) => { if (live) { setUrl(u); setError(''); } }, (err: Error) => { if (live) setError(err.message); });
    return () => { live = false; };
  }, [props.server.id, n]);
  return (
    <div class="remote-console">
      <div class="console-bar">
        <button type="button" onClick={() => setN((x) => x + 1)}>Reconnect</button>
        {url && <a href={url} target="_blank" rel="noopener noreferrer">Open in a new window</a>}
      </div>
      {error ? <p class="error" role="alert">{error}</p>
        : url ? <iframe class="vnc-frame" data-testid="vnc-frame" title={`Console of ${props.server.name}`} src={url} referrerpolicy="no-referrer" />
        : <p class="muted">Connecting…</p>}
    </div>
  );
}
