import type { FastifyInstance } from 'fastify';
import { createApp } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { installMicroversions } from './microversion.js';
import * as versions from './versions.js';
import * as servers from './servers.js';
import * as serverActions from './server-actions.js';
import * as serverMetadata from './server-metadata.js';
import * as serverTags from './server-tags.js';
import * as instanceActions from './instance-actions.js';
import * as serverDiagnostics from './server-diagnostics.js';
import * as serverTopology from './server-topology.js';
import * as flavors from './flavors.js';
import * as keypairs from './keypairs.js';
import * as aggregates from './aggregates.js';
import * as availabilityZones from './availability-zones.js';
import * as hypervisors from './hypervisors.js';
import * as services from './services.js';
import * as limits from './limits.js';
import * as quotaSets from './quota-sets.js';
import * as serverGroups from './server-groups.js';
import * as quotaClassSets from './quota-class-sets.js';
import * as simpleTenantUsage from './simple-tenant-usage.js';
import * as instanceUsageAuditLog from './instance-usage-audit-log.js';
import * as osHosts from './os-hosts.js';
import * as extensions from './extensions.js';
import * as imageProxy from './image-proxy.js';
import * as serverPassword from './server-password.js';
import * as serverIps from './server-ips.js';
import * as externalEvents from './external-events.js';
import * as migrations from './migrations.js';
import * as volumeAttachments from './volume-attachments.js';
import * as serverInterfaces from './server-interfaces.js';
import * as networkProxies from './network-proxies.js';
import * as remoteConsoles from './remote-consoles.js';

export type { ComputeApiDeps } from './deps.js';

/** Every route module of the compute API; each registers its routes under /v2.1 and /v2.1/{project_id}. */
const MODULES: Array<{ register(app: FastifyInstance, deps: ComputeApiDeps): void }> = [
  servers, serverActions, serverMetadata, serverTags, instanceActions, serverDiagnostics, serverTopology,
  flavors, keypairs, aggregates, availabilityZones, hypervisors, services, limits, quotaSets, quotaClassSets,
  simpleTenantUsage, instanceUsageAuditLog, osHosts, extensions, imageProxy, serverGroups, serverPassword, serverIps, externalEvents,
  migrations, volumeAttachments, serverInterfaces, networkProxies, remoteConsoles,
];

/**
 * The OpenStack Compute v2.1 API (:8774): token auth, Nova's error bodies, request ids under
 * both of Nova's header names, and microversions negotiated once per request.
 */
export function createComputeApp(deps: ComputeApiDeps): FastifyInstance {
  const app = createApp({
    name: 'compute',
    format: 'nova',
    tokens: deps.tokens,
    log: deps.log,
    requestIdHeaders: ['x-openstack-request-id', 'x-compute-request-id'],
    requireProjectScope: true,
    policy: { enforcer: deps.policy, style: 'nova' },
  });
  installMicroversions(app);
  versions.register(app);
  for (const m of MODULES) m.register(app, deps);
  return app;
}
