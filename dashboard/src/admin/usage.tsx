import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { call } from '../session.js';
import { ErrorLine, Page, Table, useLoad } from '../ui.js';
import { vcpuSeries, type TenantUsage } from './usage-series.js';

const PERIODS: Array<[string, number]> = [['6 hours', 6], ['24 hours', 24], ['7 days', 168]];
const COLOURS = ['#3a7bd5', '#d0453a', '#2e9d5b', '#9b59b6', '#e6a019', '#1abc9c', '#7f8c8d', '#c0392b'];

/** Nova's query times are naive UTC without a zone. */
const naive = (ms: number): string => new Date(ms).toISOString().replace('Z', '');

function Chart(props: { x: number[]; series: Array<{ label: string; y: number[] }> }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const plot = new uPlot({
      width: Math.max(400, el.current.clientWidth), height: 280, title: 'vCPUs in use',
      series: [{}, ...props.series.map((s, i) => ({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2 }))],
      axes: [{}, { label: 'vCPUs' }],
    }, [props.x, ...props.series.map((s) => s.y)], el.current);
    return () => plot.destroy();
  }, [props.x, props.series]);
  return <div ref={el} class="card" data-testid="usage-chart" />;
}

/** os-simple-tenant-usage for every project over a chosen period: a chart of vCPUs in use and the totals. */
export function UsagePage() {
  const [hours, setHours] = useState(24);
  const data = useLoad(async () => {
    const to = Date.now();
    const from = to - hours * 3600_000;
    const [usages, names] = await Promise.all([
      call<{ tenant_usages: TenantUsage[] }>('compute', 'GET', `/v2.1/os-simple-tenant-usage?detailed=1&start=${naive(from)}&end=${naive(to)}`).then((r) => r.body.tenant_usages),
      call<{ projects: Array<{ id: string; name: string }> }>('identity', 'GET', '/v3/projects').then((r) => new Map(r.body.projects.map((p) => [p.id, p.name])), () => new Map<string, string>()),
    ]);
    const { x, series } = vcpuSeries(usages, from, to);
    return { usages, names, x, series: series.map((s) => ({ label: names.get(s.project) ?? s.project, y: s.y })) };
  }, [hours]);
  const d = data.data;
  return (
    <Page title="Usage" actions={
      <select aria-label="Period" value={hours} onChange={(e) => setHours(Number((e.target as HTMLSelectElement).value))}>
        {PERIODS.map(([label, h]) => <option key={h} value={h}>Last {label}</option>)}
      </select>}>
      <ErrorLine error={data.error} />
      {d && <Chart x={d.x} series={d.series} />}
      <Table testid="usage" rows={d?.usages} rowKey={(u) => u.tenant_id} empty="No usage in this period."
        cols={[
          ['Project', (u) => d?.names.get(u.tenant_id) ?? u.tenant_id], ['Servers', (u) => u.server_usages?.length ?? 0],
          ['vCPU hours', (u) => u.total_vcpus_usage.toFixed(2)], ['RAM MiB hours', (u) => u.total_memory_mb_usage.toFixed(0)], ['Hours', (u) => u.total_hours.toFixed(2)],
        ]} />
    </Page>
  );
}
