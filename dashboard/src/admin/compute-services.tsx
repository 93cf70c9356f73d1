import { useState } from 'preact/hooks';
import { call } from '../session.js';
import { ErrorLine, Page, Table, useInterval, useLoad } from '../ui.js';

interface ComputeServiceRow {
  id: string;
  binary: string;
  host: string;
  zone: string;
  status: string;
  state: string;
  updated_at: string | null;
  disabled_reason: string | null;
}

/** os-services at 2.53 (ids are uuids, enable/disable is PUT on the id); refreshed every 10 s, the report interval. */
export function ComputeServicesPage() {
  const services = useLoad(async () => (await call<{ services: ComputeServiceRow[] }>('compute', 'GET', '/v2.1/os-services', { microversion: '2.53' })).body.services);
  useInterval(services.reload, 10_000);
  const [error, setError] = useState('');
  const toggle = (s: ComputeServiceRow): void => {
    const body = s.status === 'enabled' ? { status: 'disabled', disabled_reason: 'disabled from the dashboard' } : { status: 'enabled' };
    call('compute', 'PUT', `/v2.1/os-services/${s.id}`, { microversion: '2.53', body }).then(services.reload, (err: Error) => setError(err.message));
  };
  return (
    <Page title="Compute services">
      <ErrorLine error={services.error || error} />
      <Table testid="services" rows={services.data} rowKey={(s) => s.id}
        cols={[
          ['Service', (s) => s.binary], ['Host', (s) => s.host], ['Zone', (s) => s.zone],
          ['State', (s) => <span class={`status ${s.state === 'up' ? 'good' : 'bad'}`}>{s.state}</span>],
          ['Status', (s) => `${s.status}${s.disabled_reason ? ` (${s.disabled_reason})` : ''}`], ['Last heartbeat', (s) => s.updated_at ?? ''],
          ['', (s) => (s.binary === 'nova-compute' ? <button type="button" onClick={() => toggle(s)}>{s.status === 'enabled' ? 'Disable' : 'Enable'}</button> : null)],
        ]} />
    </Page>
  );
}
