import { Page } from '../ui.js';

export function UsagePage() {
  return <Page title="UsagePage"><p class="muted">Coming.</p></Page>;
}
