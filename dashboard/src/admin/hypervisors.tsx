import { Page } from '../ui.js';

export function HypervisorsPage() {
  return <Page title="HypervisorsPage"><p class="muted">Coming.</p></Page>;
}
