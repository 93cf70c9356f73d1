import { Page } from '../ui.js';

export function ImagesPage() {
  return <Page title="ImagesPage"><p class="muted">Coming.</p></Page>;
}
