import { Page } from '../ui.js';

export function AggregatesPage() {
  return <Page title="AggregatesPage"><p class="muted">Coming.</p></Page>;
}
