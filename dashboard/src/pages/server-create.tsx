import { Page } from '../ui.js';

export function ServerCreatePage() {
  return <Page title="ServerCreatePage"><p class="muted">Coming.</p></Page>;
}
