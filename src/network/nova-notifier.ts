import type { Logger } from '../common/logging.js';
import type { IdentityClient } from '../clients/identity-client.js';

/**
 * Neutron's `[nova]` notifier: when a server's port changes (its fixed IPs, its floating IP
 * association) or is deleted, the compute API is told with a `network-changed` external event
 * so it refreshes the server's info cache. Sent in the background with the service user's
 * credentials to the `compute` endpoint of the catalog; a failure is logged, never raised into
 * the request that caused it (the compute API also refreshes on its own reads, as Nova's heal).
 *
 * Events of one tick are sent as one request (Neutron batches them the same way), so a burst
 * of port changes costs one call.
 */

/** The port fields the notifier looks at. */
export interface NotifiedPort {
  id: string;
  device_id: string;
  device_owner: string;
}

export interface ServerExternalEvent {
  name: 'network-changed' | 'network-vif-deleted' | 'network-vif-plugged' | 'network-vif-unplugged';
  server_uuid: string;
  tag: string;
  status?: string;
}

/** The most events one request carries (Nova takes any number; a bound keeps requests small). */
const BATCH = 100;

export class NovaNotifier {
  private queue: ServerExternalEvent[] = [];
  private flushing: Promise<void> | null = null;

  /** @param send posts one batch (tests may give their own); the default posts to the compute API. */
  constructor(private readonly log: Logger, private readonly send: (events: ServerExternalEvent[]) => Promise<void>) {}

  /**
   * The notifier of a cloud: the compute endpoint from the catalog, with the service user's
   * token. `identity` may be a function: the API process knows its identity URL only once its
   * apps listen, after the network app is made.
   */
  static forCloud(source: IdentityClient | (() => IdentityClient), log: Logger): NovaNotifier {
    let client: IdentityClient | null = typeof source === 'function' ? null : source;
    return new NovaNotifier(log, async (events) => {
      client ??= (source as () => IdentityClient)();
      const identity = client;
      const url = `${(await identity.endpoint('compute')).replace(/\/v2\.1$/, '')}/v2.1/os-server-external-events`;
      const post = async (token: string): Promise<Response> => fetch(url, {
        method: 'POST', headers: { 'x-auth-token': token, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ events }),
      });
      let res = await post(await identity.token());
      if (res.status === 401) {
        await res.body?.cancel();
        identity.invalidate();
        res = await post(await identity.token());
      }
      // 207: some servers were unknown to Nova (deleted meanwhile): nothing to do about it.
      const text = await res.text();
      if (!res.ok) throw new Error(`POST os-server-external-events: ${res.status} ${text.slice(0, 200)}`);
    });
  }

  /** A port of a server changed (fixed IPs, floating IP) or was deleted: tell Nova. Other ports are ignored. */
  portChanged(port: NotifiedPort): void {
    if (!port.device_owner.startsWith('compute:') || port.device_id === '') return;
    this.queue.push({ name: 'network-changed', server_uuid: port.device_id, tag: port.id });
    this.schedule();
  }

  /**
   * A server's port was wired by its host's agent (DOWN → ACTIVE) or lost (→ DOWN): Neutron's
   * `network-vif-plugged` / `network-vif-unplugged`, which a compute waiting on its VIFs acts on.
   */
  portStatusChanged(port: NotifiedPort, status: 'ACTIVE' | 'DOWN'): void {
    if (!port.device_owner.startsWith('compute:') || port.device_id === '') return;
    this.queue.push({
      name: status === 'ACTIVE' ? 'network-vif-plugged' : 'network-vif-unplugged', server_uuid: port.device_id, tag: port.id, status: 'completed',
    });
    this.schedule();
  }

  /** Resolves when everything queued so far has been sent (or failed): for tests and shutdown. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) {
      if (!this.flushing) this.schedule();
      await this.flushing;
    }
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      await new Promise((r) => setImmediate(r));
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, BATCH);
        try {
          await this.send(batch);
        } catch (err) {
          this.log.warn({ err: String(err), events: batch.length }, 'failed to notify the compute API of port changes');
        }
      }
    })().finally(() => {
      this.flushing = null;
    });
  }
}
