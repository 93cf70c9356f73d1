import { join } from 'node:path';
import type { DataplaneExtension } from './dataplane.js';
import { checkL3State } from './l3-check.js';
import { L3Dataplane } from './l3.js';

/**
 * The L3 data plane as an extension of the agent's LinuxDataplane: after L2 (bridges) and DHCP,
 * the routers of the host state are converged (l3.ts). The router ports are among the host's
 * ports, so the L2 wiring pass that follows reports their taps wired. One L3Dataplane per
 * agent, made on first use with the agent's host runner, namespace prefix and state path.
 */
export function l3Extension(): DataplaneExtension {
  let l3: L3Dataplane | null = null;
  return async (ctx) => {
    l3 ??= new L3Dataplane({
      runner: ctx.host, namespacePrefix: ctx.namespacePrefix, ...(ctx.stateDir ? { stateDir: join(ctx.stateDir, 'l3-routers') } : {}),
    });
    const { state, problems } = checkL3State(ctx.state.routers ?? [], ctx.state.floating_ips ?? []);
    ctx.problems.push(...problems);
    await l3.sync(state);
  };
}
