import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * The pages the noVNC proxy serves over plain HTTP beside its websocket: one small console page
 * of our own (the npm package of noVNC ships its library, not its app), and the library's ES
 * modules it imports (core/, vendor/), straight from the package — no bundling, as noVNC's own
 * vnc_lite.html does. The page reads Nova's `path` query (`?path=%3Ftoken%3D<token>`) and
 * connects the websocket of the same origin to it.
 */

// The package exports core/rfb.js only; its folder is the one above core/.
const NOVNC_ROOT = dirname(dirname(fileURLToPath(import.meta.resolve('@novnc/novnc'))));

/** Nova's page names: vnc_lite.html (its default base URL), vnc_auto.html (older), vnc.html. */
export const CONSOLE_PAGES: readonly string[] = ['/vnc_lite.html', '/vnc_auto.html', '/vnc.html'];

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console</title>
<style>
  html, body { margin: 0; height: 100%; background: #1b1f24; color: #e6e6e6; font: 14px system-ui, sans-serif; }
  body { display: flex; flex-direction: column; }
  #bar { display: flex; gap: 12px; align-items: center; padding: 6px 10px; background: #2b3138; }
  #status { flex: 1; }
  #screen { flex: 1; overflow: hidden; }
  button { font: inherit; }
</style>
</head>
<body data-state="connecting">
<div id="bar"><span id="status">Connecting…</span><button id="cad" type="button" disabled>Send Ctrl+Alt+Del</button></div>
<div id="screen"></div>
<script type="module">
import RFB from './core/rfb.js';
const params = new URLSearchParams(location.search);
const path = (params.get('path') ?? '').replace(/^\\//, '');
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' + path;
const status = document.getElementById('status');
const cad = document.getElementById('cad');
const say = (state, text) => { document.body.dataset.state = state; status.textContent = text; };
const rfb = new RFB(document.getElementById('screen'), url);
rfb.scaleViewport = true;
rfb.addEventListener('connect', () => { say('connected', 'Connected (unencrypted) to ' + (rfb._fbName || 'the console')); cad.disabled = false; });
rfb.addEventListener('desktopname', (e) => say('connected', 'Connected (unencrypted) to ' + e.detail.name));
rfb.addEventListener('disconnect', (e) => { say('disconnected', e.detail.clean ? 'Disconnected' : 'The console is closed: the token may have expired'); cad.disabled = true; });
cad.addEventListener('click', () => rfb.sendCtrlAltDel());
window.rfb = rfb;
</script>
</body>
</html>
`;

const TYPES: Readonly<Record<string, string>> = { '.js': 'text/javascript; charset=utf-8', '.json': 'application/json' };

/** The most bytes a static file served here may have (the largest of noVNC's is about 120 KB). */
const MAX_FILE = 4 << 20;

/**
 * Answers a GET for the console page or one of noVNC's modules; false when `path` is neither (the
 * caller answers 404). Only files under core/ and vendor/ of the package, of the types above.
 */
export async function servePage(path: string, res: ServerResponse, req: IncomingMessage): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const headers = {
    'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
  };
  if (CONSOLE_PAGES.includes(path)) {
    // The token is in this page's URL: no-referrer keeps it from leaving with any request.
    res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : PAGE);
    return true;
  }
  const m = /^\/((?:core|vendor)\/[A-Za-z0-9_./-]{1,200})$/.exec(path);
  if (!m) return false;
  const rel = normalize(m[1]!);
  const type = TYPES[rel.slice(rel.lastIndexOf('.'))];
  if (!type || rel.startsWith('..') || rel.split(sep).includes('..')) return false;
  let body: Buffer;
  try {
    body = await readFile(join(NOVNC_ROOT, rel));
  } catch {
    return false;
  }
  if (body.length > MAX_FILE) return false;
  res.writeHead(200, { ...headers, 'content-type': type, 'cache-control': 'public, max-age=3600' });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
