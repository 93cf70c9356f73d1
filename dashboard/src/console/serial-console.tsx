import { useEffect, useRef, useState } from 'preact/hooks';
import type { Server } from '../types.js';
import { consoleUrl } from './remote-console.js';
import { keyBytes, TerminalScreen } from './terminal.js';

type State = 'connecting' | 'connected' | 'closed';

/**
 * The guest's first serial port, interactive: a websocket to the serial console proxy (the URL
 * the API handed out, token and all), the guest's bytes drawn by TerminalScreen, the keys typed
 * into the screen sent as a serial line carries them.
 */
export function SerialConsole(props: { server: Server }) {
  const screen = useRef(new TerminalScreen());
  const socket = useRef<WebSocket | null>(null);
  const view = useRef<HTMLPreElement>(null);
  const [text, setText] = useState('');
  const [state, setState] = useState<State>('connecting');
  const [error, setError] = useState('');
  const [n, setN] = useState(0);

  useEffect(() => {
    let live = true;
    setState('connecting');
    const decoder = new TextDecoder('utf-8');
    consoleUrl(props.server.id, 'serial').then((url) => {
      if (!live) return;
      const ws = new WebSocket(url, ['binary']);
      ws.binaryType = 'arraybuffer';
      socket.current = ws;
      ws.onopen = () => { setState('connected'); setError(''); view.current?.focus(); };
      ws.onmessage = (m: MessageEvent<ArrayBuffer | string>) => {
        screen.current.write(typeof m.data === 'string' ? m.data : decoder.decode(m.data, { stream: true }));
        setText(screen.current.text);
      };
      ws.onclose = () => { if (live) setState('closed'); };
    }, (err: Error) => { if (live) { setError(err.message); setState('closed'); } });
    return () => {
      live = false;
      socket.current?.close();
      socket.current = null;
    };
  }, [props.server.id, n]);

  // The newest line in sight, as a terminal keeps it.
  useEffect(() => { if (view.current) view.current.scrollTop = view.current.scrollHeight; }, [text]);

  const onKey = (e: KeyboardEvent): void => {
    const bytes = keyBytes(e);
    if (bytes === null || socket.current?.readyState !== WebSocket.OPEN) return;
    e.preventDefault();
    socket.current.send(new TextEncoder().encode(bytes));
  };
  const onPaste = (e: ClipboardEvent): void => {
    const pasted = e.clipboardData?.getData('text') ?? '';
    if (pasted && socket.current?.readyState === WebSocket.OPEN) socket.current.send(new TextEncoder().encode(pasted.replace(/\r?\n/g, '\r')));
    e.preventDefault();
  };

  return (
    <div class="remote-console">
      <div class="console-bar">
        <span data-testid="serial-state" data-state={state}>{state === 'connected' ? 'Connected: type into the console' : state === 'connecting' ? 'Connecting…' : 'Disconnected'}</span>
        <button type="button" onClick={() => { screen.current = new TerminalScreen(); setText(''); setN((x) => x + 1); }}>Reconnect</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <pre ref={view} class="serial-screen" data-testid="serial-screen" tabIndex={0} onKeyDown={onKey} onPaste={onPaste}
        aria-label={`Serial console of ${props.server.name}`}>{text}</pre>
    </div>
  );
}
