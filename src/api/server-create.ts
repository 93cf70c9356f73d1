import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, Conflict } from '../common/errors.js';
import { versionCompatible } from '../common/versions.js';
import { isUuidLike, newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import { listAvailabilityZones } from '../db/aggregates.js';
import type { Db } from '../db/connection.js';
import { getFlavorRow, projectCanUseFlavor, rowToFlavor, getExtraSpecs } from '../db/flavors.js';
import { rowToInstance, type InstanceRow } from '../db/instances.js';
import { getKeyPair } from '../db/keypairs.js';
import { checkMetadataLimit, createInstancesWithinQuota, type NewInstance } from '../db/quota-check.js';
import { joinGroup, requestedGroup } from './server-group-hint.js';
import { getProjectLimits } from '../db/quotas.js';
import type { Flavor, ImageMeta, RequestSpec } from '../objects/compute.js';
import { PowerState, TaskState, VmState } from '../objects/states.js';
import { rpcContextOf } from '../httpkit/app.js';
import { authorize } from '../httpkit/authorize.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { toBool } from './resource-kit.js';
import { bootImage, generatePassword, unexpectedProperty } from './server-common.js';
import {
  BlockDeviceMappingSchema, checkBlockDevices, checkCreateTags, checkHostnameField, checkPersonality, checkTrustedCerts,
  PersonalitySchema, requestedDestination, RequestedHostSchema, ServerHostnameSchema, TrustedCertsSchema,
} from './server-create-checks.js';
import {
  AccessIPv4Schema, AccessIPv6Schema, BoolSchema, DescriptionSchema, DiskConfigSchema, MetadataSchema, NameSchema,
  PositiveIntSchema, TagSchema, diskConfigColumn, isBase64, normaliseAccessIPs,
} from './server-schemas.js';
import { serverLinks } from './server-view.js';
import { checkNetworkShapes, resolveNetworks } from './server-create-networks.js';
import type { NetworkRequest } from '../objects/network.js';

/** POST /servers (Nova's servers controller create, up to 2.93). */

// Schemas: the union of every microversion's; what a version does not know is refused in code.

const NetworkSchema = Type.Object({
  fixed_ip: Type.Optional(Type.String()),
  port: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  uuid: Type.Optional(Type.String()),
  tag: Type.Optional(TagSchema),
}, { additionalProperties: false });

const HintsSchema = Type.Object({}, { additionalProperties: true });

export const CreateBody = Type.Object({
  server: Type.Object({
    name: NameSchema,
    imageRef: Type.Optional(Type.String()),
    flavorRef: Type.Union([Type.String({ minLength: 1 }), Type.Integer()], { examples: ['1'] }),
    adminPass: Type.Optional(Type.String()),
    metadata: Type.Optional(MetadataSchema),
    networks: Type.Optional(Type.Union([Type.Array(NetworkSchema), Type.Union([Type.Literal('none'), Type.Literal('auto')])])),
    'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema),
    accessIPv4: Type.Optional(AccessIPv4Schema),
    accessIPv6: Type.Optional(AccessIPv6Schema),
    availability_zone: Type.Optional(NameSchema),
    config_drive: Type.Optional(BoolSchema),
    key_name: Type.Optional(NameSchema),
    min_count: Type.Optional(PositiveIntSchema),
    max_count: Type.Optional(PositiveIntSchema),
    return_reservation_id: Type.Optional(BoolSchema),
    security_groups: Type.Optional(Type.Array(Type.Object({ name: Type.Optional(NameSchema) }, { additionalProperties: false }))),
    user_data: Type.Optional(Type.String({ maxLength: 65535 })),
    description: Type.Optional(DescriptionSchema),
    block_device_mapping_v2: Type.Optional(Type.Array(BlockDeviceMappingSchema)),
    personality: Type.Optional(PersonalitySchema),
    tags: Type.Optional(Type.Array(TagSchema)),
    trusted_image_certificates: Type.Optional(TrustedCertsSchema),
    host: Type.Optional(RequestedHostSchema),
    hypervisor_hostname: Type.Optional(RequestedHostSchema),
    hostname: Type.Optional(ServerHostnameSchema),
  }, { additionalProperties: false }),
  'os:scheduler_hints': Type.Optional(HintsSchema),
  'OS-SCH-HNT:scheduler_hints': Type.Optional(HintsSchema),
}, { additionalProperties: false });
export type CreateBody = Static<typeof CreateBody>;

// ---- create

/** Nova's reservation ids: r-xxxxxxxx. */
function newReservationId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return `r-${[...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

/** Nova's sanitize_hostname. */
export function sanitizeHostname(name: string, fallback: string): string {
  let h = [...name].filter((c) => c.charCodeAt(0) < 256).join('').slice(0, 63);
  h = h.replace(/[ _.]/g, '-').replace(/[^\w.-]+/g, '').toLowerCase().replace(/^[.-]+|[.-]+$/g, '');
  return h === '' ? fallback.slice(0, 63) : h;
}

/** Nova's get_id_from_href: a flavor may be given by id or by link. */
function idFromHref(href: string): string {
  let path = href;
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(href)) path = new URL(href).pathname;
  } catch {
    // not a URL: the id itself
  }
  return path.split('/').pop() ?? path;
}

/** Nova's parse_availability_zone: "az", "az:host", "az:host:node" or "az::node". */
function parseAvailabilityZone(value: string | undefined): { zone: string | null; host: string | null; node: string | null } {
  if (value === undefined) return { zone: null, host: null, node: null };
  let zone = value;
  let host: string | null = null;
  let node: string | null = null;
  const colons = value.split(':').length - 1;
  if (colons === 1) [zone, host] = value.split(':') as [string, string];
  else if (colons === 2) {
    if (value.includes('::')) [zone, node] = value.split('::') as [string, string];
    else [zone, host, node] = value.split(':') as [string, string, string];
  } else if (colons > 2) {
    throw new BadRequest('Invalid input received: Unable to parse availability_zone');
  }
  return { zone: zone === '' ? null : zone, host: host || null, node: node || null };
}

/** Without a Network API (a compute API run alone) a create can ask only for "none" or "auto". */
function refuseNetworkList(networks: CreateBody['server']['networks']): void {
  const first = Array.isArray(networks) ? networks[0] : undefined;
  if (first?.port) throw new BadRequest(`Port id ${first.port} could not be found.`);
  if (first) throw new BadRequest(`Network ${String(first.uuid)} could not be found.`);
}

/** The flavor a create asked for, as the caller may use it (Nova answers 400 for anything else). */
async function requestedFlavor(db: Db, req: FastifyRequest, flavorRef: string | number): Promise<Flavor> {
  const flavorid = idFromHref(String(flavorRef));
  const row = await getFlavorRow(db, flavorid);
  if (!row || row.disabled === 1 || (!req.auth.isAdmin && !(await projectCanUseFlavor(db, row, req.auth.projectId)))) {
    throw new BadRequest(`Flavor ${flavorid} could not be found.`);
  }
  return rowToFlavor(row, await getExtraSpecs(db, flavorid));
}

export async function createServers(deps: ComputeApiDeps, req: FastifyRequest<{ Body: CreateBody }>, reply: FastifyReply): Promise<unknown> {
  const { db, config } = deps;
  const s = req.body.server;
  if (s.description !== undefined && !mvAtLeast(req, '2.19')) throw unexpectedProperty('server', 'description');
  // The shapes here; with a Network API the networks themselves there (server-create-networks.ts).
  checkNetworkShapes(req, s.networks);
  if (!deps.network) refuseNetworkList(s.networks);
  checkPersonality(req, 'server', s.personality);
  checkTrustedCerts(req, 'server', s.trusted_image_certificates);
  const tags = checkCreateTags(req, s.tags);
  if (!req.auth.projectId) throw new BadRequest('A project-scoped token is required to create servers.');
  const projectId = req.auth.projectId;

  const minCount = s.min_count !== undefined ? Number(s.min_count) : 1;
  const maxCount = s.max_count !== undefined ? Number(s.max_count) : minCount;
  for (const [field, v] of [['min_count', minCount], ['max_count', maxCount]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is less than the minimum of 1`);
  }
  if (minCount > maxCount) throw new BadRequest('min_count must be <= max_count');
  checkHostnameField(req, 'server', s.hostname, maxCount);
  // Quota alone is no bound (it may be unlimited): one request of 2^31 servers ran the process out of heap.
  const most = config.num('api', 'max_servers_per_request');
  for (const [field, v] of [['min_count', minCount], ['max_count', maxCount]] as const) {
    if (v > most) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is greater than the maximum of ${most} servers per request`);
  }

  if (s.user_data !== undefined && !isBase64(s.user_data)) {
    throw new BadRequest(`Invalid input for field/attribute user_data. Value: ${s.user_data}. '${s.user_data}' is not a 'base64'`);
  }
  const imageRef = s.imageRef ?? '';
  if (imageRef !== '' && !isUuidLike(imageRef)) {
    throw new BadRequest(`Invalid input for field/attribute imageRef. Value: ${imageRef}. '${imageRef}' is not a 'uuid'`);
  }
  if (imageRef === '') throw new BadRequest('Missing imageRef attribute');
  checkBlockDevices(req, s.block_device_mapping_v2, imageRef);
  const accessIPs = normaliseAccessIPs(s);

  const parsedZone = parseAvailabilityZone(s.availability_zone);
  if (parsedZone.host || parsedZone.node) authorize(req, 'os_compute_api:servers:create:forced_host');
  const destination = await requestedDestination(db, req, s.host, s.hypervisor_hostname, parsedZone.host !== null || parsedZone.node !== null);
  const az = { zone: parsedZone.zone, host: parsedZone.host ?? destination.host, node: parsedZone.node ?? destination.node };

  const flavor = await requestedFlavor(db, req, s.flavorRef);
  const metadata = s.metadata ?? {};
  // Read once: the metadata check here and the instance quota at insert.
  const limits = await getProjectLimits(db, config, projectId);
  checkMetadataLimit(limits, Object.keys(metadata).length);
  const image = await bootImage(deps.images, req, imageRef, flavor);

  let keyData: string | null = null;
  if (s.key_name !== undefined) {
    const kp = await getKeyPair(db, req.auth.userId, s.key_name);
    if (!kp) throw new BadRequest('Invalid key_name provided.');
    keyData = kp.publicKey;
  }
  const group = await requestedGroup(db, req, req.body);
  if (az.zone !== null && az.host === null) {
    const { available } = await listAvailabilityZones(db, config);
    if (!available.includes(az.zone)) throw new BadRequest('The requested availability zone is not available');
  }

  // Nova's create:attach_network: naming networks or ports is a rule of its own.
  if (Array.isArray(s.networks) && s.networks.length > 0) authorize(req, 'os_compute_api:servers:create:attach_network');
  const network = deps.network ? await resolveNetworks(deps.network, req, s.networks, s.security_groups, maxCount) : undefined;
  // A compute older than RPC 1.4 would drop the requested networks (RequestSpec 1.0) and boot without a port.
  if (network && network.mode !== 'none' && !versionCompatible('1.4', await deps.compute.pin())) {
    throw new Conflict('Networks cannot be requested until every compute service is upgraded (compute RPC 1.4).');
  }

  const reservationId = newReservationId();
  const build = (count: number): Array<NewInstance<Omit<InstanceRow, 'id'>>> => {
    const ts = now().toISOString();
    return Array.from({ length: count }, (_, index) => {
      const uuid = newUuid();
      const name = count > 1 ? `${s.name}-${index + 1}` : s.name;
      return {
        metadata,
        row: {
          uuid,
          display_name: name,
          display_description: s.description ?? null,
          project_id: projectId,
          user_id: req.auth.userId,
          image_ref: image.id,
          flavor: JSON.stringify(flavor),
          flavor_id: flavor.flavorid,
          vcpus: flavor.vcpus,
          memory_mb: flavor.memoryMb,
          root_gb: flavor.rootGb,
          ephemeral_gb: flavor.ephemeralGb,
          vm_state: VmState.BUILDING,
          task_state: TaskState.SCHEDULING,
          power_state: PowerState.NOSTATE,
          host: null,
          node: null,
          node_uuid: null,
          availability_zone: az.zone,
          key_name: s.key_name ?? null,
          key_data: keyData,
          user_data: s.user_data ?? null,
          hostname: s.hostname ?? sanitizeHostname(name, `Server-${uuid}`),
          reservation_id: reservationId,
          launch_index: index,
          locked: 0,
          locked_by: null,
          config_drive: s.config_drive !== undefined && toBool(s.config_drive) ? 'True' : '',
          access_ip_v4: accessIPs.accessIPv4 ?? null,
          access_ip_v6: accessIPs.accessIPv6 ?? null,
          auto_disk_config: diskConfigColumn(s['OS-DCF:diskConfig']) ?? 0,
          locked_reason: null, shelved_image_id: null, shelved_at: null, network_info: null, requested_networks: network ? JSON.stringify(network) : null,
          progress: 0,
          image_meta: JSON.stringify(image),
          tags: JSON.stringify(tags),
          launched_at: null,
          terminated_at: null,
          created_at: ts,
          updated_at: ts,
          deleted_at: null,
          deleted: 0,
        },
      };
    });
  };
  const created = await createInstancesWithinQuota(db, config, {
    projectId, userId: req.auth.userId, requestId: req.requestId, minCount, maxCount,
    vcpus: flavor.vcpus, memoryMb: flavor.memoryMb, limits, ...(group ? { withInstances: joinGroup(group, limits) } : {}),
  }, build);

  await castBuild(deps, req, created, flavor, image, az, network);

  if (s.return_reservation_id !== undefined && toBool(s.return_reservation_id)) {
    return { reservation_id: reservationId };
  }
  const first = created[0]!.row.uuid;
  const links = serverLinks(req, first);
  reply.header('location', links[0]!.href);
  return {
    server: {
      id: first,
      links,
      'OS-DCF:diskConfig': s['OS-DCF:diskConfig'] ?? 'MANUAL',
      security_groups: s.security_groups ?? [{ name: 'default' }],
      adminPass: s.adminPass ?? generatePassword(),
    },
  };
}

/** Hands the new instances (the rows just inserted, in launch order) to the conductor, which schedules and builds them. */
async function castBuild(
  deps: ComputeApiDeps, req: FastifyRequest, created: Array<NewInstance<Omit<InstanceRow, 'id'>>>, flavor: Flavor, image: ImageMeta,
  az: { zone: string | null; host: string | null; node: string | null }, network: NetworkRequest | undefined,
): Promise<void> {
  const instances = created.map((c) => rowToInstance(c.row, c.metadata));
  const spec: RequestSpec = {
    instanceUuids: instances.map((i) => i.uuid),
    projectId: req.auth.projectId!,
    userId: req.auth.userId,
    flavor,
    image,
    availabilityZone: az.zone,
    ignoreHosts: [],
    forceHost: az.host,
    forceNode: az.node,
    attempt: 0,
    ...(network ? { network } : {}),
  };
  await deps.conductor.buildInstances(rpcContextOf(req), instances, spec);
}