import { Page } from '../ui.js';

export function NetworksPage() {
  return <Page title="NetworksPage"><p class="muted">Coming.</p></Page>;
}
