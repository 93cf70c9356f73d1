/**
 * os-simple-tenant-usage's detailed answer turned into time series: at each of POINTS instants
 * of the period, the vCPUs of the servers alive then, per project. Computed from each server's
 * started_at/ended_at, so one request draws the whole chart.
 */

export interface ServerUsage {
  name: string;
  vcpus: number;
  memory_mb: number;
  hours: number;
  started_at: string;
  ended_at: string | null;
  state: string;
}

export interface TenantUsage {
  tenant_id: string;
  total_hours: number;
  total_vcpus_usage: number;
  total_memory_mb_usage: number;
  server_usages?: ServerUsage[];
}

export const POINTS = 96;

/** Nova's times are naive UTC ("2026-12-04T18:00:00.000000"). */
export function utc(t: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`);
}

/** x: seconds since the epoch (uPlot's unit); one y series per project, vCPUs in use. */
export function vcpuSeries(usages: TenantUsage[], from: number, to: number): { x: number[]; series: Array<{ project: string; y: number[] }> } {
  const step = (to - from) / (POINTS - 1);
  const x = Array.from({ length: POINTS }, (_, i) => Math.round((from + i * step) / 1000));
  const series = usages.map((u) => ({
    project: u.tenant_id,
    y: x.map((sec) => {
      const t = sec * 1000;
      let sum = 0;
      for (const s of u.server_usages ?? []) {
        const end = s.ended_at ? utc(s.ended_at) : Infinity;
        if (utc(s.started_at) <= t && t < end) sum += s.vcpus;
      }
      return sum;
    }),
  }));
  return { x, series };
}
