/**
 * Joins a call to the same call already under way: a conductor that took a flow over runs its
 * step again while the first run may still be going here, and must get the first run's result
 * rather than start the work twice. Only a dedup of calls in flight, never state: once a call
 * settles it is forgotten, and running the step again relies on the driver's idempotency.
 */
export class SameCalls {
  // Keys come from messages (migration ids, instance uuids): a Map, never an object's properties.
  readonly #running = new Map<string, Promise<unknown>>();

  /** How many distinct calls are under way. */
  get size(): number {
    return this.#running.size;
  }

  /** Runs `call` unless a call of the same `method` and `id` runs; then answers that one's outcome. */
  run<T>(method: string, id: string, call: () => Promise<T>): Promise<T> {
    const key = `${method}\u0000${id}`;
    const under = this.#running.get(key);
    if (under) return under as Promise<T>;
    const p = Promise.resolve().then(call).finally(() => this.#running.delete(key));
    this.#running.set(key, p);
    return p;
  }
}
