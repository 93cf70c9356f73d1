import type { FlowDef } from '../task-engine.js';
import { EVACUATE_FLOW } from './evacuate.js';
import { LIVE_MIGRATION_FLOW } from './live.js';
import { MIGRATION_FLOW, RESIZE_FLOW } from './resize.js';
import { SHELVE_FLOWS } from './shelve.js';

/** Every kind of task flow the conductor drives, one definition each. */
export const ALL_FLOWS: FlowDef[] = [RESIZE_FLOW, MIGRATION_FLOW, LIVE_MIGRATION_FLOW, EVACUATE_FLOW, ...SHELVE_FLOWS];
