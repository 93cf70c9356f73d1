/**
 * `orrery status`: every service the database knows, with its state, version and last
 * heartbeat — the table an operator reads first, from the same rows /healthcheck reports.
 */
import type { ServiceHealth } from '../httpkit/healthcheck.js';

/** "4 s ago", "3 min ago", "2 h ago", "5 d ago"; "never" for a service that never reported. */
export function heartbeatAge(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** The table, columns padded to their widest cell, and a summary line. */
export function statusTable(services: readonly ServiceHealth[], now: number): string {
  const head = ['BINARY', 'HOST', 'STATE', 'STATUS', 'VERSION', 'LAST HEARTBEAT'];
  const rows = services.map((s) => [s.binary, s.host, s.state, s.status, s.version, s.last_heartbeat === null ? 'never' : `${s.last_heartbeat} (${heartbeatAge(s.last_heartbeat, now)})`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const down = services.filter((s) => s.state === 'down').length;
  const summary = services.length === 0 ? 'no services have registered yet' : `${services.length} service${services.length === 1 ? '' : 's'}: ${services.length - down} up, ${down} down`;
  return `${[line(head), ...rows.map(line)].join('\n')}\n${summary}\n`;
}
