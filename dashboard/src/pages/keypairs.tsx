import { Page } from '../ui.js';

export function KeypairsPage() {
  return <Page title="KeypairsPage"><p class="muted">Coming.</p></Page>;
}
