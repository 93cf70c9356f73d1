/** The fake driver's node events: its last reported nodes, and the listeners told of changes. */
import { abortError, nodeChanges, type Logger, type NodeEventListener, type NodeInfo } from '@orrery/virt-api';

export class NodeEventHub {
  readonly #listeners = new Set<NodeEventListener>();
  /** The nodes last reported: what events are computed against. */
  #last: NodeInfo[] = [];

  constructor(private readonly log: () => Logger | undefined) {}

  add(listener: NodeEventListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** The nodes as of now, with no events (at init). */
  reset(nodes: NodeInfo[]): void {
    this.#last = nodes;
  }

  /** Emits the events that take the last reported nodes to `nodes`. */
  seen(nodes: NodeInfo[]): void {
    const events = nodeChanges(this.#last, nodes);
    this.#last = nodes;
    for (const e of events) {
      for (const l of this.#listeners) {
        try {
          l(e);
        } catch (err) {
          this.log()?.warn('node event listener failed', { err: String(err) });
        }
      }
    }
  }
}

/** Waits `ms`; an aborted signal ends the wait with the abort's error. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise<void>((r) => setTimeout(r, ms));
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
