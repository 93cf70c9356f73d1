import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';

/** Small building blocks every page uses: loading data, errors, tables, capacity bars. */

export interface Loaded<T> {
  data: T | undefined;
  error: string;
  reload(): void;
}

/** Runs `load` on mount and on reload(); `deps` re-run it when they change. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState('');
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then((d) => { if (live) { setData(d); setError(''); } }, (err: Error) => { if (live) setError(err.message); });
    return () => { live = false; };
  }, [n, ...deps]);
  return { data, error, reload: useCallback(() => setN((x) => x + 1), []) };
}

/** Runs `fn` every `ms` while the component is shown and the tab is visible. */
export function useInterval(fn: () => void, ms: number): void {
  useEffect(() => {
    const t = setInterval(() => { if (document.visibilityState === 'visible') fn(); }, ms);
    return () => clearInterval(t);
  }, [fn, ms]);
}

export function ErrorLine(props: { error: string }) {
  return props.error ? <p class="error" role="alert">{props.error}</p> : null;
}

export function Table<T>(props: { rows: T[] | undefined; cols: Array<[string, (r: T) => ComponentChildren]>; rowKey: (r: T) => string; empty?: string; testid?: string }) {
  if (props.rows === undefined) return <p class="muted">Loading…</p>;
  if (props.rows.length === 0) return <p class="muted">{props.empty ?? 'None.'}</p>;
  return (
    <table data-testid={props.testid}>
      <thead><tr>{props.cols.map(([h]) => <th key={h}>{h}</th>)}</tr></thead>
      <tbody>{props.rows.map((r) => <tr key={props.rowKey(r)} data-row={props.rowKey(r)}>{props.cols.map(([h, f]) => <td key={h}>{f(r)}</td>)}</tr>)}</tbody>
    </table>
  );
}

/** A capacity bar: `used` of `total`, with the figures as text for readers and tests. */
export function Bar(props: { label: string; used: number; total: number; unit?: string }) {
  const pct = props.total > 0 ? Math.min(100, Math.round((props.used / props.total) * 100)) : 0;
  return (
    <div class="bar" role="meter" aria-label={props.label} aria-valuemin={0} aria-valuemax={props.total} aria-valuenow={props.used}>
      <span class="bar-label">{props.label}</span>
      <span class="bar-track"><span class={`bar-fill${pct >= 90 ? ' full' : ''}`} style={{ width: `${pct}%` }} /></span>
      <span class="bar-text">{props.used} / {props.total}{props.unit ? ` ${props.unit}` : ''}</span>
    </div>
  );
}

export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section>
      <div class="page-head"><h1>{props.title}</h1><div class="actions">{props.actions}</div></div>
      {props.children}
    </section>
  );
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
