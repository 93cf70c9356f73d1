import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { call } from './session.js';
import type { Server } from './types.js';
import { useInterval } from './ui.js';

/**
 * The project's servers, kept live by polling `changes-since` (Nova's way to ask only for what
 * changed): one full list, then every POLL_MS the servers updated since the last answer's
 * Date minus OVERLAP_MS — the server's clock, not the browser's, and an overlap so a change in
 * the same second as the answer is not missed (merging a server twice is harmless).
 */
const POLL_MS = 2000;
const OVERLAP_MS = 2000;

export interface ServersFeed {
  servers: Server[] | undefined;
  error: string;
  /** Ask now rather than at the next tick (after an action). */
  refresh(): void;
}

export function useServersFeed(): ServersFeed {
  const [byId, setById] = useState<Map<string, Server> | undefined>(undefined);
  const [error, setError] = useState('');
  const since = useRef<string | null>(null);
  const busy = useRef(false);
  const poll = useCallback(() => {
    if (busy.current) return;
    busy.current = true;
    const q = since.current ? `?changes-since=${encodeURIComponent(since.current)}` : '';
    call<{ servers: Server[] }>('compute', 'GET', `/v2.1/servers/detail${q}`).then((res) => {
      const date = Date.parse(res.headers.get('date') ?? '');
      const incremental = since.current !== null;
      since.current = new Date((Number.isFinite(date) ? date : Date.now()) - OVERLAP_MS).toISOString();
      setById((prev) => {
        const next = new Map(incremental && prev ? prev : []);
        for (const s of res.body.servers) {
          if (s.status === 'DELETED' || s.status === 'SOFT_DELETED') next.delete(s.id);
          else next.set(s.id, s);
        }
        return next;
      });
      setError('');
    }, (err: Error) => setError(err.message)).finally(() => { busy.current = false; });
  }, []);
  useEffect(poll, [poll]);
  useInterval(poll, POLL_MS);
  const servers = byId ? [...byId.values()].sort((a, b) => b.created.localeCompare(a.created) || a.name.localeCompare(b.name)) : undefined;
  return { servers, error, refresh: poll };
}
