import { Page } from '../ui.js';

export function ComputeServicesPage() {
  return <Page title="ComputeServicesPage"><p class="muted">Coming.</p></Page>;
}
