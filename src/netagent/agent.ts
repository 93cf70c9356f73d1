/**
 * The network agent of one host (Neutron's linuxbridge agent, with its DHCP and metadata parts):
 * every poll interval it reports to `POST /v2.0/agents/report` (heartbeat, the ports wired or
 * unwired since its last report) and, when the answer's revision changed — or every resync
 * interval regardless — converges its data plane to the answer; between two applies a cheap
 * pass attaches taps the hypervisor has just made. Its state is the API's answer alone, so a
 * restarted agent rebuilds from the first answer (and the data plane keeps what is already right).
 */
import { checkHostState, type Dataplane, type HostState } from '@orrery/net-linux';
import type { Logger } from '../common/logging.js';
import { errorMessage } from '../common/errors.js';

export const AGENT_TYPE = 'Linux bridge agent';
export const AGENT_BINARY = 'orrery-network-agent';

export interface AgentReport {
  agent: {
    host: string;
    agent_type: string;
    binary: string;
    availability_zone: string;
    configurations: Record<string, unknown>;
    devices_up: string[];
    devices_down: string[];
  };
}

/** What the agent needs of the Network API: the report call (NetworkClient.reportAgent). */
export interface AgentReporter {
  reportAgent(report: AgentReport): Promise<{ host_state?: unknown }>;
}

export interface NetworkAgentOptions {
  host: string;
  availabilityZone: string;
  /** The agent's `configurations` (tunneling_ip, interface_mappings, dhcp, l3, metadata). */
  configurations: Record<string, unknown>;
  reporter: AgentReporter;
  dataplane: Dataplane;
  log: Logger;
  pollIntervalMs: number;
  /** An apply even when the revision did not change (repairs what someone else changed). */
  resyncIntervalMs: number;
}

export class NetworkAgent {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = true;
  /** Ports the API has been told are up. */
  #reported = new Set<string>();
  /** Ports wired now (the last apply or wire pass). */
  #wired = new Set<string>();
  #revision: string | null = null;
  #lastApply = 0;
  #state: HostState | null = null;
  #lastError: string | null = null;
  /** Reports that succeeded / applies done (tests and logs). */
  readonly stats = { reports: 0, applies: 0, failures: 0 };

  constructor(readonly opts: NetworkAgentOptions) {}

  get state(): HostState | null {
    return this.#state;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.tick().then((again) => {
        if (this.#lastError !== null) this.opts.log.info('network agent cycle succeeds again');
        this.#lastError = null;
        this.#schedule(again ? 100 : this.opts.pollIntervalMs);
      }, (err: unknown) => {
        this.stats.failures++;
        const msg = errorMessage(err);
        // The same failure every poll interval is logged once, then quietly.
        if (msg !== this.#lastError) this.opts.log.warn({ err: msg }, 'network agent cycle failed');
        else this.opts.log.debug({ err: msg }, 'network agent cycle failed again');
        this.#lastError = msg;
        this.#schedule(this.opts.pollIntervalMs);
      });
    }, ms);
  }

  /** One cycle: report, apply or wire. Resolves true when the wired set changed and is worth reporting at once. */
  async tick(): Promise<boolean> {
    const inState = new Set((this.#state?.ports ?? []).map((p) => p.id));
    const up = [...this.#wired].filter((id) => !this.#reported.has(id));
    const down = [...this.#reported].filter((id) => !this.#wired.has(id) && inState.has(id));
    const answer = await this.opts.reporter.reportAgent({
      agent: {
        host: this.opts.host, agent_type: AGENT_TYPE, binary: AGENT_BINARY, availability_zone: this.opts.availabilityZone,
        configurations: this.opts.configurations, devices_up: up, devices_down: down,
      },
    });
    this.stats.reports++;
    if (up.length + down.length > 0) this.opts.log.debug({ up: up.length, down: down.length }, 'devices reported');
    for (const id of up) this.#reported.add(id);
    for (const id of down) this.#reported.delete(id);
    // Ports no longer in the desired state are forgotten (the API forgets them too).
    for (const id of this.#reported) if (!inState.has(id) && this.#state) this.#reported.delete(id);
    const { state, problems: invalid } = checkHostState(answer.host_state);
    if (invalid.length > 0) this.opts.log.warn({ problems: invalid.slice(0, 20) }, 'parts of the host state are unusable');
    const due = Date.now() - this.#lastApply >= this.opts.resyncIntervalMs;
    if (state.revision !== this.#revision || due) {
      const r = await this.opts.dataplane.apply(state);
      this.stats.applies++;
      this.#lastApply = Date.now();
      this.#revision = state.revision;
      this.#state = state;
      this.#wired = r.wired;
      if (r.problems.length > 0) this.opts.log.warn({ problems: r.problems.slice(0, 20) }, 'host state applied in part');
      else this.opts.log.debug({ revision: state.revision }, 'host state applied');
    } else {
      this.#wired = await this.opts.dataplane.wire();
    }
    this.opts.log.trace({ wired: this.#wired.size, reported: this.#reported.size }, 'network agent cycle');
    const ids = new Set(this.#state?.ports.map((p) => p.id) ?? []);
    return [...this.#wired].some((id) => !this.#reported.has(id)) || [...this.#reported].some((id) => !this.#wired.has(id) && ids.has(id));
  }
}
