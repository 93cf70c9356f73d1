import { listFlavors } from '../pickers.js';
import { ErrorLine, Page, Table, useLoad } from '../ui.js';

export function FlavorsPage() {
  const flavors = useLoad(async () => (await listFlavors()).sort((a, b) => a.ram - b.ram || a.vcpus - b.vcpus));
  return (
    <Page title="Flavors">
      <ErrorLine error={flavors.error} />
      <Table testid="flavors" rows={flavors.data} rowKey={(f) => f.id}
        cols={[
          ['Name', (f) => f.name], ['vCPUs', (f) => f.vcpus], ['RAM (MiB)', (f) => f.ram], ['Disk (GiB)', (f) => f.disk],
          ['Public', (f) => (f['os-flavor-access:is_public'] === false ? 'no' : 'yes')], ['ID', (f) => <code>{f.id}</code>],
        ]} />
    </Page>
  );
}
