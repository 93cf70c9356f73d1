/** Helpers for the lifecycle events a driver emits. */
import { PowerState, type LifecycleTransition } from './contract.js';

/**
 * The transition to report when an instance goes from `prev` to `next`, or null when the power
 * state did not change. Drivers emit exactly these, so the compute service can sync power
 * state from events instead of polling every instance.
 */
export function transitionFor(prev: PowerState | null, next: PowerState): LifecycleTransition | null {
  if (prev === next) return null;
  switch (next) {
    case PowerState.RUNNING:
      return prev === PowerState.PAUSED || prev === PowerState.SUSPENDED ? 'resumed' : 'started';
    case PowerState.PAUSED:
      return 'paused';
    case PowerState.SUSPENDED:
      return 'suspended';
    default:
      return 'stopped';
  }
}

const STATES = new Set<number>(Object.values(PowerState));

/** True when `v` is one of the PowerState numbers. */
export function isPowerState(v: unknown): v is PowerState {
  return typeof v === 'number' && STATES.has(v);
}
