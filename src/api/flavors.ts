import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, Conflict, NotFound } from '../common/errors.js';
import { newUuid } from '../common/ids.js';
import { resourceSpecProblem } from '../common/resource-classes.js';
import type { Db } from '../db/connection.js';
import {
  addFlavorAccess, createFlavor, deleteExtraSpec, deleteFlavor, flavorAccessProjects, getExtraSpecs, getExtraSpecsOf, getFlavorRow,
  listFlavorRows, projectCanUseFlavor, removeFlavorAccess, setExtraSpecs, updateFlavorDescription, type FlavorRow,
} from '../db/flavors.js';
import {
  BooleanSchema, MAX_INT, NameSchema, intOrString, intValue, mvAtLeast, nextLinks, pageOf, parseBoolParam, queryParam,
  resourceLinks, routeBoth, strictQuery, toBool,
} from './resource-kit.js';
import { validateExtraSpec, validateTraitSpec } from './extra-spec-validation.js';
import { requireMicroversion } from './microversion.js';
import { unexpectedProperty } from './server-common.js';
import type { ComputeApiDeps } from './deps.js';
import { authorize } from '../httpkit/authorize.js';

/** The flavors API: flavors, their extra specs and their access lists (Nova's flavors, flavor_manage, flavors_extraspecs, flavor_access). */

// ---- views

function basicView(req: FastifyRequest, f: FlavorRow): Record<string, unknown> {
  const out: Record<string, unknown> = { id: f.flavorid, name: f.name };
  // 2.55: the description, in every view.
  if (mvAtLeast(req, '2.55')) out.description = f.description;
  out.links = resourceLinks(req, 'flavors', f.flavorid);
  return out;
}

/** The full view; `specs` are the flavor's extra specs, embedded from 2.61. */
function detailView(req: FastifyRequest, f: FlavorRow, specs?: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: f.flavorid,
    name: f.name,
    ram: f.memory_mb,
    disk: f.root_gb,
    // Nova renders a zero swap as "" before 2.75, as 0 from it.
    swap: f.swap === 0 && !mvAtLeast(req, '2.75') ? '' : f.swap,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral_gb,
    'OS-FLV-DISABLED:disabled': f.disabled === 1,
    vcpus: f.vcpus,
    'os-flavor-access:is_public': f.is_public === 1,
    rxtx_factor: f.rxtx_factor,
    links: resourceLinks(req, 'flavors', f.flavorid),
  };
  if (mvAtLeast(req, '2.55')) out.description = f.description;
  // 2.61: extra specs in the flavor (Nova's os-flavor-extra-specs:index default lets every reader see them).
  if (mvAtLeast(req, '2.61') && specs !== undefined) out.extra_specs = specs;
  return out;
}

/** The detail view with the extra specs it embeds from 2.61. */
async function fullView(db: Db, req: FastifyRequest, f: FlavorRow): Promise<Record<string, unknown>> {
  return detailView(req, f, mvAtLeast(req, '2.61') ? await getExtraSpecs(db, f.flavorid) : undefined);
}

/** Query parameters of the flavor list; unknown ones are refused from 2.75. */
const LIST_QUERY = ['is_public', 'minRam', 'minDisk', 'limit', 'marker', 'sort_key', 'sort_dir'];

const accessView = (flavorid: string, projects: string[]): unknown => ({
  flavor_access: projects.map((p) => ({ flavor_id: flavorid, tenant_id: p })),
});

/** A flavor the caller may see: admins see all, others public ones and private ones shared with them. */
async function visibleFlavor(db: Db, req: FastifyRequest, flavorid: string): Promise<FlavorRow> {
  const row = await getFlavorRow(db, flavorid);
  if (!row || (!req.auth.isAdmin && !(await projectCanUseFlavor(db, row, req.auth.projectId)))) {
    throw new NotFound(`Flavor ${flavorid} could not be found.`);
  }
  return row;
}

// ---- listing

const SORT_KEYS = new Set(['created_at', 'description', 'disabled', 'ephemeral_gb', 'flavorid', 'id', 'is_public', 'memory_mb', 'name', 'root_gb', 'rxtx_factor', 'swap', 'vcpus']);

function intFilter(req: FastifyRequest, name: string): number | undefined {
  const raw = queryParam(req, name);
  if (raw === undefined) return undefined;
  if (!/^\s*-?\d+\s*$/.test(raw)) throw new BadRequest(`Invalid ${name} filter [${raw}]`);
  return Number(raw);
}

async function listFlavors(db: Db, req: FastifyRequest): Promise<{ rows: FlavorRow[]; links: unknown[] }> {
  strictQuery(req, LIST_QUERY);
  let isPublic: boolean | null = true;
  if (req.auth.isAdmin) {
    // Only admins choose: is_public=none lists all, false private ones only.
    const raw = queryParam(req, 'is_public');
    if (raw !== undefined) {
      if (raw.toLowerCase() === 'none') isPublic = null;
      else {
        const b = parseBoolParam(raw);
        if (b === undefined) throw new BadRequest(`Invalid is_public filter [${raw}]`);
        isPublic = b;
      }
    }
  }
  const sortKey = queryParam(req, 'sort_key') || 'flavorid';
  const sortDir = queryParam(req, 'sort_dir') || 'asc';
  if (!SORT_KEYS.has(sortKey)) throw new BadRequest(`Invalid input for query parameters sort_key. Value: ${sortKey}.`);
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new BadRequest(`Invalid input for query parameters sort_dir. Value: ${sortDir}.`);
  const page = pageOf(req);
  const rows = await listFlavorRows(db, {
    isPublic,
    projectId: req.auth.projectId,
    includeDisabled: req.auth.isAdmin,
    minMemoryMb: intFilter(req, 'minRam'),
    minRootGb: intFilter(req, 'minDisk'),
  });
  const key = sortKey as keyof FlavorRow;
  const sign = sortDir === 'asc' ? 1 : -1;
  rows.sort((a, b) => {
    const x = a[key] ?? '';
    const y = b[key] ?? '';
    if (x < y) return -sign;
    if (x > y) return sign;
    return sign * (a.id - b.id);
  });
  let start = 0;
  if (page.marker !== undefined) {
    const at = rows.findIndex((r) => r.flavorid === page.marker);
    if (at < 0) throw new BadRequest(`marker [${page.marker}] not found`);
    start = at + 1;
  }
  const slice = rows.slice(start, start + page.limit);
  return { rows: slice, links: nextLinks(req, 'flavors', page, slice.length, slice.at(-1)?.flavorid) };
}

// ---- schemas

const NonNegative = intOrString({ minimum: 0, maximum: MAX_INT });
const Positive = intOrString({ minimum: 1, maximum: MAX_INT });
/** The largest single-precision float (Nova's SQL_SP_FLOAT_MAX). */
const SP_FLOAT_MAX = 3.40282e38;

/** Nova's flavor description: printable text up to 65535 characters. */
const FlavorDescription = Type.String({ maxLength: 65535, pattern: '^[^\\x00-\\x1f\\x7f]*$' });

const CreateFlavorBody = Type.Object({
  flavor: Type.Object({
    name: NameSchema,
    id: Type.Optional(Type.Union([
      Type.String({ minLength: 1, maxLength: 255, pattern: '^(?! )[a-zA-Z0-9. _-]+(?<! )$' }), Type.Number(), Type.Null(),
    ])),
    ram: Positive,
    vcpus: Positive,
    disk: NonNegative,
    'OS-FLV-EXT-DATA:ephemeral': Type.Optional(NonNegative),
    swap: Type.Optional(NonNegative),
    rxtx_factor: Type.Optional(Type.Union([
      Type.Number({ exclusiveMinimum: 0, maximum: SP_FLOAT_MAX }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?$' }),
    ])),
    'os-flavor-access:is_public': Type.Optional(BooleanSchema),
    description: Type.Optional(Type.Union([FlavorDescription, Type.Null()])),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateFlavorBody = Static<typeof CreateFlavorBody>;

const UpdateFlavorBody = Type.Object({
  flavor: Type.Object({ description: Type.Union([FlavorDescription, Type.Null()]) }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateFlavorBody = Static<typeof UpdateFlavorBody>;

const SPEC_KEY = '^[a-zA-Z0-9-_:. ]{1,255}$';
const SpecValue = Type.Union([Type.String({ maxLength: 255 }), Type.Number()]);
const ExtraSpecsMap = Type.Unsafe<Record<string, string | number>>({
  type: 'object', patternProperties: { [SPEC_KEY]: SpecValue }, additionalProperties: false,
});
const CreateSpecsBody = Type.Object({ extra_specs: ExtraSpecsMap }, { additionalProperties: false });
const UpdateSpecBody = Type.Unsafe<Record<string, string | number>>({
  type: 'object', patternProperties: { [SPEC_KEY]: SpecValue }, additionalProperties: false, minProperties: 1, maxProperties: 1,
});

const TenantBody = Type.Object({ tenant: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false });
const FlavorActionBody = Type.Union([
  Type.Object({ addTenantAccess: TenantBody }, { additionalProperties: false }),
  Type.Object({ removeTenantAccess: TenantBody }, { additionalProperties: false }),
]);
type FlavorActionBody = Static<typeof FlavorActionBody>;

/**
 * Extra specs as strings, checked as Nova checks them at the request's microversion: every
 * known key from 2.86, before it the ones the scheduler reads (`trait:<NAME>` must be
 * `required` or `forbidden`); at every microversion `resources:<CLASS>` must name a resource
 * class and an amount (0 or more).
 */
function validatedSpecs(req: FastifyRequest, specs: Record<string, string | number>): Record<string, string> {
  const validate = mvAtLeast(req, '2.86') ? validateExtraSpec : validateTraitSpec;
  const out: Array<[string, string]> = [];
  for (const [key, raw] of Object.entries(specs)) {
    const value = String(raw);
    validate(key, value);
    const problem = resourceSpecProblem(key, value);
    if (problem !== null) throw new BadRequest(`Validation failed; ${problem}.`);
    out.push([key, value]);
  }
  return Object.fromEntries(out); // keys are data: see common/records.ts
}

type FlavorParams = { flavor_id: string };
type SpecParams = { flavor_id: string; key: string };

const ADD_ACCESS_POLICY = 'os_compute_api:os-flavor-access:add_tenant_access';
const REMOVE_ACCESS_POLICY = 'os_compute_api:os-flavor-access:remove_tenant_access';

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db } = deps;

  routeBoth(app, 'GET', '/flavors', { policy: 'os_compute_api:flavors:index' }, async (req) => {
    const { rows, links } = await listFlavors(db, req);
    const out: Record<string, unknown> = { flavors: rows.map((r) => basicView(req, r)) };
    if (links.length > 0) out.flavors_links = links;
    return out;
  });

  routeBoth(app, 'GET', '/flavors/detail', { policy: 'os_compute_api:flavors:index' }, async (req) => {
    const { rows, links } = await listFlavors(db, req);
    const specs = mvAtLeast(req, '2.61') ? await getExtraSpecsOf(db, rows.map((r) => r.flavorid)) : undefined;
    const out: Record<string, unknown> = { flavors: rows.map((r) => detailView(req, r, specs?.get(r.flavorid))) };
    if (links.length > 0) out.flavors_links = links;
    return out;
  });

  routeBoth<{ Params: FlavorParams }>(app, 'GET', '/flavors/:flavor_id', { policy: 'os_compute_api:flavors:show' }, async (req) => {
    return { flavor: await fullView(db, req, await visibleFlavor(db, req, req.params.flavor_id)) };
  });

  // 2.55: the description is the one field a flavor's owner may change.
  routeBoth<{ Params: FlavorParams; Body: UpdateFlavorBody }>(
    app, 'PUT', '/flavors/:flavor_id', { policy: 'os_compute_api:os-flavor-manage:update', schema: { body: UpdateFlavorBody } }, async (req) => {
      requireMicroversion(req, '2.55');
      const row = await updateFlavorDescription(db, req.params.flavor_id, req.body.flavor.description);
      if (!row) throw new NotFound(`Flavor ${req.params.flavor_id} could not be found.`);
      return { flavor: await fullView(db, req, row) };
    },
  );

  routeBoth<{ Body: CreateFlavorBody }>(app, 'POST', '/flavors', { policy: 'os_compute_api:os-flavor-manage:create', schema: { body: CreateFlavorBody } }, async (req) => {
    const f = req.body.flavor;
    if (f.description !== undefined && !mvAtLeast(req, '2.55')) throw unexpectedProperty('flavor', 'description');
    // Nova generates a UUID when the id is absent, null or otherwise false-y.
    const flavorid = f.id === undefined || f.id === null || f.id === '' || f.id === 0 ? newUuid() : String(f.id);
    const rxtx = f.rxtx_factor === undefined ? 1 : Number(f.rxtx_factor);
    if (!(rxtx > 0 && rxtx <= SP_FLOAT_MAX)) throw new BadRequest(`Invalid input for field/attribute rxtx_factor. Value: ${f.rxtx_factor}.`);
    const row = await createFlavor(db, {
      flavorid,
      name: f.name,
      memory_mb: intValue('ram', f.ram, 1, MAX_INT),
      vcpus: intValue('vcpus', f.vcpus, 1, MAX_INT),
      root_gb: intValue('disk', f.disk, 0, MAX_INT),
      ephemeral_gb: f['OS-FLV-EXT-DATA:ephemeral'] === undefined ? 0 : intValue('OS-FLV-EXT-DATA:ephemeral', f['OS-FLV-EXT-DATA:ephemeral'], 0, MAX_INT),
      swap: f.swap === undefined ? 0 : intValue('swap', f.swap, 0, MAX_INT),
      rxtx_factor: rxtx,
      is_public: f['os-flavor-access:is_public'] === undefined || toBool(f['os-flavor-access:is_public']) ? 1 : 0,
      disabled: 0,
      description: f.description ?? null,
    });
    return { flavor: await fullView(db, req, row) };
  });

  routeBoth<{ Params: FlavorParams }>(app, 'DELETE', '/flavors/:flavor_id', { policy: 'os_compute_api:os-flavor-manage:delete', status: 202 }, async (req) => {
    if (!(await deleteFlavor(db, req.params.flavor_id))) throw new NotFound(`Flavor ${req.params.flavor_id} could not be found.`);
    return undefined;
  });

  // ---- extra specs

  routeBoth<{ Params: FlavorParams }>(app, 'GET', '/flavors/:flavor_id/os-extra_specs', { policy: 'os_compute_api:os-flavor-extra-specs:index' }, async (req) => {
    const f = await visibleFlavor(db, req, req.params.flavor_id);
    return { extra_specs: await getExtraSpecs(db, f.flavorid) };
  });

  routeBoth<{ Params: FlavorParams; Body: Static<typeof CreateSpecsBody> }>(
    app, 'POST', '/flavors/:flavor_id/os-extra_specs', { policy: 'os_compute_api:os-flavor-extra-specs:create', schema: { body: CreateSpecsBody } }, async (req) => {
      const specs = validatedSpecs(req, req.body.extra_specs);
      const f = await visibleFlavor(db, req, req.params.flavor_id);
      await setExtraSpecs(db, f.flavorid, specs);
      return { extra_specs: specs };
    },
  );

  routeBoth<{ Params: SpecParams }>(app, 'GET', '/flavors/:flavor_id/os-extra_specs/:key', { policy: 'os_compute_api:os-flavor-extra-specs:show' }, async (req) => {
    const f = await visibleFlavor(db, req, req.params.flavor_id);
    const specs = await getExtraSpecs(db, f.flavorid);
    if (!Object.hasOwn(specs, req.params.key)) {
      throw new NotFound(`Flavor ${f.flavorid} has no extra specs with key ${req.params.key}.`);
    }
    return { [req.params.key]: specs[req.params.key] };
  });

  routeBoth<{ Params: SpecParams; Body: Record<string, string | number> }>(
    app, 'PUT', '/flavors/:flavor_id/os-extra_specs/:key', { policy: 'os_compute_api:os-flavor-extra-specs:update', schema: { body: UpdateSpecBody } }, async (req) => {
      const specs = validatedSpecs(req, req.body);
      if (!Object.hasOwn(specs, req.params.key)) throw new BadRequest('Request body and URI mismatch');
      const f = await visibleFlavor(db, req, req.params.flavor_id);
      await setExtraSpecs(db, f.flavorid, specs);
      return specs;
    },
  );

  // Nova answers an extra spec's DELETE with 200 and no body (its controller sets no other code).
  routeBoth<{ Params: SpecParams }>(app, 'DELETE', '/flavors/:flavor_id/os-extra_specs/:key', { policy: 'os_compute_api:os-flavor-extra-specs:delete', status: 200 }, async (req) => {
    const f = await visibleFlavor(db, req, req.params.flavor_id);
    if (!(await deleteExtraSpec(db, f.flavorid, req.params.key))) {
      throw new NotFound(`Flavor ${f.flavorid} has no extra specs with key ${req.params.key}.`);
    }
    return undefined;
  });

  // ---- access lists of private flavors

  routeBoth<{ Params: FlavorParams }>(app, 'GET', '/flavors/:flavor_id/os-flavor-access', { policy: 'os_compute_api:os-flavor-access' }, async (req) => {
    const f = await visibleFlavor(db, req, req.params.flavor_id);
    if (f.is_public === 1) throw new NotFound('Access list not available for public flavors.');
    return accessView(f.flavorid, await flavorAccessProjects(db, f.flavorid));
  });

  routeBoth<{ Params: FlavorParams; Body: FlavorActionBody }>(
    app, 'POST', '/flavors/:flavor_id/action', {
      schema: { body: FlavorActionBody }, actionPolicies: [ADD_ACCESS_POLICY, REMOVE_ACCESS_POLICY],
    }, async (req) => {
      authorize(req, 'addTenantAccess' in req.body ? ADD_ACCESS_POLICY : REMOVE_ACCESS_POLICY);
      const f = await visibleFlavor(db, req, req.params.flavor_id);
      if ('addTenantAccess' in req.body) {
        if (f.is_public === 1 && mvAtLeast(req, '2.7')) throw new Conflict('Can not add access to a public flavor.');
        await addFlavorAccess(db, f.flavorid, req.body.addTenantAccess.tenant);
      } else {
        await removeFlavorAccess(db, f.flavorid, req.body.removeTenantAccess.tenant);
      }
      return accessView(f.flavorid, await flavorAccessProjects(db, f.flavorid));
    },
  );
}
