import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { OrreryError } from '../common/errors.js';
import type { NetViewer } from '../db/network-networks.js';

/**
 * What the network API's route modules share: Neutron's exceptions (its type names and
 * wording), the viewer of a request, timestamps in Neutron's form, and schema fragments.
 */

export const viewerOf = (req: FastifyRequest): NetViewer => ({ projectId: req.auth.projectId, isAdmin: req.auth.isAdmin });

/** Neutron's standard-attr timestamps: seconds, `Z`. */
export const stamp = (iso: string): string => `${iso.slice(0, 19)}Z`;
export const nowIso = (): string => new Date().toISOString();

export const bool = (n: number): boolean => n === 1;
export const bit = (b: boolean): number => (b ? 1 : 0);
export const json = <T>(text: string): T => JSON.parse(text) as T;

export class NeutronError extends OrreryError {}

export const notFound = (type: string, message: string): NeutronError => new NeutronError(404, type, message);
export const conflict = (type: string, message: string): NeutronError => new NeutronError(409, type, message);
export const badRequest = (type: string, message: string): NeutronError => new NeutronError(400, type, message);
/** Neutron's InvalidInput: every semantic refusal of a body that passed its schema. */
export const invalidInput = (why: string): NeutronError => new NeutronError(400, 'InvalidInput', `Invalid input for operation: ${why}.`);

export const networkNotFound = (id: string): NeutronError => notFound('NetworkNotFound', `Network ${id} could not be found.`);
export const subnetNotFound = (id: string): NeutronError => notFound('SubnetNotFound', `Subnet ${id} could not be found.`);
export const portNotFound = (id: string): NeutronError => notFound('PortNotFound', `Port ${id} could not be found.`);
export const sgNotFound = (id: string): NeutronError => notFound('SecurityGroupNotFound', `Security group ${id} does not exist`);
export const overQuota = (resource: string): NeutronError => conflict('OverQuota', `Quota exceeded for resources: ['${resource}'].`);

// ---- schema fragments

export const Name = Type.String({ maxLength: 255 });
export const Description = Type.String({ maxLength: 255 });
export const ProjectId = Type.String({ minLength: 1, maxLength: 64 });
export const Id = Type.String({ maxLength: 255 });
export const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 50 });
export const IdParams = Type.Object({ id: Type.String({ maxLength: 255 }) });

/** Neutron's project_id/tenant_id pair: either may be given, both must agree. */
export function requestedProject(req: FastifyRequest, body: { project_id?: string; tenant_id?: string }): string {
  if (body.project_id !== undefined && body.tenant_id !== undefined && body.project_id !== body.tenant_id) {
    throw invalidInput("'project_id' and 'tenant_id' do not match");
  }
  const p = body.project_id ?? body.tenant_id ?? req.auth.projectId;
  if (p === null || p === undefined) throw badRequest('HTTPBadRequest', "Failed to parse request. Required attribute 'project_id' not specified");
  return p;
}

/** The standard attributes every resource view ends with. */
export function standardAttrs(row: { tags: string; created_at: string; updated_at: string; revision_number: number; description: string }): Record<string, unknown> {
  return {
    description: row.description, tags: json<string[]>(row.tags),
    created_at: stamp(row.created_at), updated_at: stamp(row.updated_at), revision_number: row.revision_number,
  };
}

/**
 * Neutron's revision-if-match: `If-Match: revision_number=N` makes an update or delete happen
 * only while the resource is at revision N (else 412), so a client's read-modify-write is safe.
 */
export function checkIfMatch(req: FastifyRequest, current: number): void {
  const header = req.headers['if-match'];
  if (header === undefined) return;
  for (const part of [header].flat().join(',').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^revision_number=(\d{1,15})$/.exec(part);
    if (!m) throw badRequest('HTTPBadRequest', `Invalid If-Match value ${part}: revision_number=<integer> expected`);
    if (Number(m[1]) !== current) {
      throw new NeutronError(412, 'RevisionNumberConstraintFailed', `Constrained to ${m[1]}, but current revision is ${current}`);
    }
  }
}
