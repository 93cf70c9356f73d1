import { Page } from '../ui.js';

export function FlavorsPage() {
  return <Page title="FlavorsPage"><p class="muted">Coming.</p></Page>;
}
