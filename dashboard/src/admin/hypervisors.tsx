import { call } from '../session.js';
import { Bar, ErrorLine, Page, useLoad } from '../ui.js';

interface Hypervisor {
  id: number | string;
  hypervisor_hostname: string;
  hypervisor_type: string;
  state: string;
  status: string;
  vcpus: number;
  vcpus_used: number;
  memory_mb: number;
  memory_mb_used: number;
  local_gb: number;
  local_gb_used: number;
  running_vms: number;
  service: { host: string };
}

/**
 * One card per hypervisor with capacity bars. Asked at 2.1: from 2.88 the API leaves the
 * resource figures to placement, and these are exactly the figures the bars show.
 */
export function HypervisorsPage() {
  const hvs = useLoad(async () => (await call<{ hypervisors: Hypervisor[] }>('compute', 'GET', '/v2.1/os-hypervisors/detail', { microversion: '2.1' })).body.hypervisors);
  return (
    <Page title="Hypervisors" actions={<button type="button" onClick={hvs.reload}>Refresh</button>}>
      <ErrorLine error={hvs.error} />
      {hvs.data === undefined ? <p class="muted">Loading…</p> : (
        <div class="cards" data-testid="hypervisors">
          {hvs.data.map((h) => (
            <div class="card" key={String(h.id)} data-hypervisor={h.hypervisor_hostname}>
              <h3>{h.hypervisor_hostname}</h3>
              <p class="muted">{h.hypervisor_type} on {h.service.host} · <span class={`status ${h.state === 'up' ? 'good' : 'bad'}`}>{h.state}</span> · {h.status} · {h.running_vms} running</p>
              <Bar label="vCPUs" used={h.vcpus_used} total={h.vcpus} />
              <Bar label="RAM" used={h.memory_mb_used} total={h.memory_mb} unit="MiB" />
              <Bar label="Disk" used={h.local_gb_used} total={h.local_gb} unit="GiB" />
            </div>
          ))}
        </div>
      )}
    </Page>
  );
}
