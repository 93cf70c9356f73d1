import type { FlowDef } from '../task-engine.js';

/** Every kind of task flow the conductor drives, one definition each. */
export const ALL_FLOWS: FlowDef[] = [];
