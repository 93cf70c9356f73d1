/**
 * The data plane an agent converges its host with: `apply(state)` brings the host to the
 * desired state of `POST /v2.0/agents/report` (L2, DHCP, security groups, then the extensions
 * such as the L3 part) and answers which local ports are wired; `wire()` is the cheap pass between
 * two applies (taps the hypervisor has just made get attached). `noop` records the state and
 * calls every port wired (the all-in-one with the fake driver); `linux` acts on the kernel.
 */
import type { HostNetwork, HostState, HostSubnet, HostSecurityGroup } from './host-state.js';
import { syncNetworks, wirePorts } from './l2.js';
import { syncDhcp, type MetadataProxyCommand } from './dhcp.js';
import { syncSecurityGroups, type PortRules } from './secgroups.js';
import { syncAntispoof } from './antispoof.js';
import { CommandRunner } from './runner.js';

export interface ApplyResult {
  /** Ids of the local ports that are wired (their tap on its bridge, up). */
  wired: Set<string>;
  /** What could not be done (each named; the rest was applied). */
  problems: string[];
}

export interface Dataplane {
  readonly kind: string;
  apply(state: HostState): Promise<ApplyResult>;
  wire(): Promise<Set<string>>;
}

/** Context handed to an extension of the Linux data plane (the L3 part: routers, floating IPs). */
export interface DataplaneContext {
  /** Runs in the host's namespace. */
  host: CommandRunner;
  /** Runs in the agent's own namespace (`ip netns add`, entering other namespaces by path). */
  root: CommandRunner;
  state: HostState;
  networks: ReadonlyMap<string, HostNetwork>;
  subnets: ReadonlyMap<string, HostSubnet[]>;
  namespacePrefix: string;
  interfaceMappings: ReadonlyMap<string, string>;
  stateDir: string;
  problems: string[];
}
export type DataplaneExtension = (ctx: DataplaneContext) => Promise<void>;

export class NoopDataplane implements Dataplane {
  readonly kind = 'noop';
  state: HostState | null = null;
  async apply(state: HostState): Promise<ApplyResult> {
    this.state = state;
    return { wired: await this.wire(), problems: [] };
  }
  async wire(): Promise<Set<string>> {
    return new Set((this.state?.ports ?? []).filter((p) => p.admin_state_up).map((p) => p.id));
  }
}

export interface LinuxDataplaneOptions {
  /** Path of the host's network namespace; null = the agent's own. */
  netns: string | null;
  tunnelingIp: string | null;
  interfaceMappings: ReadonlyMap<string, string>;
  stateDir: string;
  namespacePrefix?: string;
  dhcpLeaseSeconds?: number;
  metadataProxy?: MetadataProxyCommand;
  extensions?: DataplaneExtension[];
  trace?: (argv: readonly string[]) => void;
}

export class LinuxDataplane implements Dataplane {
  readonly kind = 'linux';
  readonly host: CommandRunner;
  readonly root: CommandRunner;
  #state: HostState | null = null;
  #networks = new Map<string, HostNetwork>();
  #rules: Map<string, PortRules> | null = null;
  readonly extensions: DataplaneExtension[];

  constructor(readonly opts: LinuxDataplaneOptions) {
    this.root = new CommandRunner({ trace: opts.trace });
    this.host = this.root.inNetns(opts.netns);
    this.extensions = [...(opts.extensions ?? [])];
  }

  async apply(state: HostState): Promise<ApplyResult> {
    const problems: string[] = [];
    const networks = new Map(state.networks.map((n) => [n.id, n]));
    const subnets = new Map<string, HostSubnet[]>();
    for (const s of state.subnets) subnets.set(s.network_id, [...(subnets.get(s.network_id) ?? []), s]);
    const groups = new Map<string, HostSecurityGroup>(state.security_groups.map((g) => [g.id, g]));
    const prefix = this.opts.namespacePrefix ?? '';
    // Firewall first: a port's rules are in place before its tap is wired.
    this.#rules = await syncSecurityGroups(this.host, state.ports, groups, networks, this.#rules, problems);
    await syncAntispoof(this.host, state.ports, problems);
    await syncNetworks(this.host, state.networks, { tunnelingIp: this.opts.tunnelingIp, interfaceMappings: this.opts.interfaceMappings }, problems);
    await syncDhcp(this.host, this.root, state.dhcp, networks, subnets, {
      stateDir: this.opts.stateDir, namespacePrefix: prefix, leaseSeconds: this.opts.dhcpLeaseSeconds ?? 86400,
      metadata: state.metadata?.enabled === true, metadataProxy: this.opts.metadataProxy,
    }, problems);
    for (const ext of this.extensions) {
      try {
        await ext({ host: this.host, root: this.root, state, networks, subnets, namespacePrefix: prefix, interfaceMappings: this.opts.interfaceMappings, stateDir: this.opts.stateDir, problems });
      } catch (e) {
        problems.push(`extension: ${(e as Error).message}`);
      }
    }
    this.#state = state;
    this.#networks = networks;
    return { wired: await this.wire(), problems };
  }

  async wire(): Promise<Set<string>> {
    if (!this.#state) return new Set();
    return wirePorts(this.host, this.#state.ports, this.#networks);
  }
}
