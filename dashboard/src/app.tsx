import { isAdmin, logout, switchProject, useSession } from './session.js';
import { href, useRoute } from './router.js';
import { LoginPage } from './pages/login.js';
import { ServersPage } from './pages/servers.js';
import { ServerDetailPage } from './pages/server-detail.js';
import { ServerCreatePage } from './pages/server-create.js';
import { ImagesPage } from './pages/images.js';
import { FlavorsPage } from './pages/flavors.js';
import { KeypairsPage } from './pages/keypairs.js';
import { NetworksPage } from './pages/networks.js';
import { HypervisorsPage } from './admin/hypervisors.js';
import { ComputeServicesPage } from './admin/compute-services.js';
import { AggregatesPage } from './admin/aggregates.js';
import { UsagePage } from './admin/usage.js';
import { useState } from 'preact/hooks';

const PROJECT_PAGES: Array<[string, string]> = [['servers', 'Servers'], ['images', 'Images'], ['flavors', 'Flavors'], ['keypairs', 'Key pairs'], ['networks', 'Networks']];
const ADMIN_PAGES: Array<[string, string]> = [['hypervisors', 'Hypervisors'], ['services', 'Compute services'], ['aggregates', 'Aggregates and zones'], ['usage', 'Usage']];

function Page(props: { route: string[] }) {
  const [first, second, third] = props.route;
  switch (first) {
    case undefined:
    case 'servers':
      if (second === 'new') return <ServerCreatePage />;
      if (second) return <ServerDetailPage id={second} tab={third ?? 'overview'} />;
      return <ServersPage />;
    case 'images': return <ImagesPage />;
    case 'flavors': return <FlavorsPage />;
    case 'keypairs': return <KeypairsPage />;
    case 'networks': return <NetworksPage />;
    case 'hypervisors': return <HypervisorsPage />;
    case 'services': return <ComputeServicesPage />;
    case 'aggregates': return <AggregatesPage />;
    case 'usage': return <UsagePage />;
    default: return <p>No such page.</p>;
  }
}

function ProjectSwitcher() {
  const s = useSession()!;
  const [error, setError] = useState('');
  return (
    <label class="switcher">
      Project{' '}
      <select aria-label="Project" value={s.project.id} onChange={(e) => {
        setError('');
        switchProject((e.target as HTMLSelectElement).value).catch((err: Error) => setError(err.message));
      }}>
        {s.projects.map((p) => <option value={p.id} key={p.id}>{p.name}</option>)}
      </select>
      {error && <span class="error">{error}</span>}
    </label>
  );
}

export function App() {
  const s = useSession();
  const route = useRoute();
  if (!s) return <LoginPage />;
  const active = route[0] ?? 'servers';
  const link = ([id, label]: [string, string]) => <a href={href(id)} class={active === id ? 'active' : ''} key={id}>{label}</a>;
  return (
    <div class="shell">
      <header>
        <span class="brand">Orrery</span>
        <ProjectSwitcher />
        <span class="user">{s.user.name}</span>
        <button type="button" onClick={logout}>Sign out</button>
      </header>
      <nav>
        <h4>Project</h4>
        {PROJECT_PAGES.map(link)}
        {isAdmin(s) && <><h4>Admin</h4>{ADMIN_PAGES.map(link)}</>}
      </nav>
      {/* A new project's token is a new view: the key remounts every page's state. */}
      <main key={s.project.id}><Page route={route} /></main>
    </div>
  );
}
