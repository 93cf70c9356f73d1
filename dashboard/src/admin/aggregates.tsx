import { call } from '../session.js';
import { ErrorLine, Page, Table, useLoad } from '../ui.js';

interface Aggregate {
  id: number;
  name: string;
  availability_zone: string | null;
  hosts: string[];
  metadata: Record<string, string>;
}

interface ZoneDetail {
  zoneName: string;
  zoneState: { available: boolean };
  hosts: Record<string, Record<string, { available: boolean; active: boolean; updated_at: string | null }>> | null;
}

export function AggregatesPage() {
  const data = useLoad(async () => {
    const [aggregates, zones] = await Promise.all([
      call<{ aggregates: Aggregate[] }>('compute', 'GET', '/v2.1/os-aggregates').then((r) => r.body.aggregates),
      call<{ availabilityZoneInfo: ZoneDetail[] }>('compute', 'GET', '/v2.1/os-availability-zone/detail').then((r) => r.body.availabilityZoneInfo),
    ]);
    return { aggregates, zones };
  });
  return (
    <Page title="Aggregates and zones">
      <ErrorLine error={data.error} />
      <h3>Availability zones</h3>
      <Table testid="zones" rows={data.data?.zones} rowKey={(z) => z.zoneName}
        cols={[
          ['Zone', (z) => z.zoneName], ['Available', (z) => (z.zoneState.available ? 'yes' : 'no')],
          ['Hosts', (z) => Object.entries(z.hosts ?? {}).map(([host, svcs]) => `${host} (${Object.keys(svcs).join(', ')})`).join('; ')],
        ]} />
      <h3>Host aggregates</h3>
      <Table testid="aggregates" rows={data.data?.aggregates} rowKey={(a) => String(a.id)} empty="No host aggregates."
        cols={[
          ['Name', (a) => a.name], ['Zone', (a) => a.availability_zone ?? ''], ['Hosts', (a) => a.hosts.join(', ')],
          ['Metadata', (a) => Object.entries(a.metadata).map(([k, v]) => `${k}=${v}`).join(', ')],
        ]} />
    </Page>
  );
}
