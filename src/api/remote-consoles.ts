import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest, NotFound, Unauthorized } from '../common/errors.js';
import { findConsoleToken, issueConsoleToken } from '../db/console-auth-tokens.js';
import type { InstanceRow } from '../db/instances.js';
import { requestBaseUrl, rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast, requireMicroversion } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import type { SomeActionHandlers } from './server-actions.js';
import { checkActionAllowed, checkBody, findServer, instanceOf } from './server-common.js';

/**
 * Remote consoles (Nova's remote_consoles and console_auth_tokens APIs): POST
 * /servers/{id}/remote-consoles (2.6+), the os-getVNCConsole / os-getSerialConsole actions it
 * replaced (2.1–2.5), and GET /os-console-auth-tokens/{token} (admin). A console URL carries a
 * fresh token whose SHA-256 alone is stored, with where the guest's console listens, for
 * `[consoleauth] token_ttl` seconds; the proxies of the API process (src/consoles) check it.
 */

/** The console proxies of this process, by kind: the port each listens on (null: not running). */
export interface ConsoleProxyPorts { novnc: number | null; serial: number | null }

/** Nova's protocols and types (2.6; mks/webmks came at 2.8): those Orrery serves, and those it knows but has no proxy for. */
const PROTOCOL_TYPES: Readonly<Record<string, readonly string[]>> = {
  vnc: ['novnc', 'xvpvnc'], spice: ['spice-html5'], rdp: ['rdp-html5'], serial: ['serial'], mks: ['webmks'],
};
const SERVED: Readonly<Record<string, { kind: 'vnc' | 'serial'; proxy: keyof ConsoleProxyPorts }>> = {
  novnc: { kind: 'vnc', proxy: 'novnc' }, serial: { kind: 'serial', proxy: 'serial' },
};

const RemoteConsoleBody = Type.Object({
  remote_console: Type.Object({
    protocol: Type.Union(Object.keys(PROTOCOL_TYPES).map((p) => Type.Literal(p))),
    type: Type.Union(Object.values(PROTOCOL_TYPES).flat().map((t) => Type.Literal(t))),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

const VncBody = Type.Object({ type: Type.Union([Type.Literal('novnc'), Type.Literal('xvpvnc')]) }, { additionalProperties: false });
const SerialBody = Type.Object({ type: Type.Literal('serial') }, { additionalProperties: false });

/**
 * A console URL for the server's `type` console: asks its compute where the console listens,
 * stores the token's hash with it, and answers the URL of this process's proxy with the token —
 * the only place the token ever appears. Nova's refusals: a type without a running proxy (or
 * one the driver does not offer) 400, a guest not running 409, a driver without consoles 501.
 */
async function consoleUrl(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, type: string): Promise<string> {
  const served = SERVED[type];
  const port = served ? deps.consoleProxies?.[served.proxy] ?? null : null;
  if (!served || port === null) throw new BadRequest(`Unavailable console type ${type}.`);
  let where;
  try {
    where = await deps.compute.getConsole(rpcContextOf(req), await instanceOf(deps.db, row), served.kind);
  } catch (err) {
    if ((err as { status?: unknown }).status === 400) throw new BadRequest(`Unavailable console type ${type}.`);
    throw err;
  }
  const base = accessUrlBase(deps, req, type, port);
  const token = await issueConsoleToken(deps.db, {
    console_type: type, host: where.host, port: where.port, internal_access_path: where.internalAccessPath,
    instance_uuid: row.uuid, access_url_base: base,
  }, deps.config.num('consoleauth', 'token_ttl'));
  // Nova's forms: noVNC's page takes the websocket path (with the token) in `path`; the serial URL is the websocket's.
  return type === 'novnc' ? `${base}?path=${encodeURIComponent(`?token=${token}`)}` : `${base}?token=${token}`;
}

/** The configured base URL, or this host (as the client named it) and the proxy's port. */
function accessUrlBase(deps: ComputeApiDeps, req: FastifyRequest, type: string, port: number): string {
  const configured = type === 'novnc' ? deps.config.opt('vnc', 'novncproxy_base_url') : deps.config.opt('serial_console', 'base_url');
  if (configured) return configured;
  const url = new URL(requestBaseUrl(req));
  url.port = String(port);
  if (type === 'novnc') return `${url.origin}/vnc_lite.html`;
  return `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}/`;
}

/** The legacy actions (2.1–2.5): their handlers, in the action table's form. */
export const CONSOLE_ACTIONS = {
  'os-getVNCConsole': {
    body: VncBody,
    handler: async (deps, req, _reply, row, raw) => {
      const { type } = checkBody(VncBody, raw);
      await checkActionAllowed(deps.db, req, row, 'os-getVNCConsole');
      return { console: { type, url: await consoleUrl(deps, req, row, type) } };
    },
  },
  'os-getSerialConsole': {
    body: SerialBody,
    handler: async (deps, req, _reply, row, raw) => {
      const { type } = checkBody(SerialBody, raw);
      await checkActionAllowed(deps.db, req, row, 'os-getSerialConsole');
      return { console: { type, url: await consoleUrl(deps, req, row, type) } };
    },
  },
} satisfies SomeActionHandlers;

type ServerParams = { Params: { server_id: string } };
type TokenParams = { Params: { console_token: string } };

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<ServerParams>(app, 'POST', '/servers/:server_id/remote-consoles', { policy: 'os_compute_api:os-remote-consoles' }, async (req) => {
    requireMicroversion(req, '2.6');
    const { remote_console: rc } = checkBody(RemoteConsoleBody, req.body ?? {});
    if (rc.protocol === 'mks' && !mvAtLeast(req, '2.8')) throw new BadRequest(`Invalid input for field/attribute protocol. Value: mks.`);
    const row = await findServer(deps.db, req, req.params.server_id);
    // Nova's ConsoleTypeInvalid: a type of another protocol.
    if (!PROTOCOL_TYPES[rc.protocol]!.includes(rc.type)) throw new BadRequest(`Invalid console type ${rc.type}`);
    // The legacy action of the protocol holds the checks (host, capability): one table for both paths.
    await checkActionAllowed(deps.db, req, row, rc.protocol === 'serial' ? 'os-getSerialConsole' : 'os-getVNCConsole');
    return { remote_console: { protocol: rc.protocol, type: rc.type, url: await consoleUrl(deps, req, row, rc.type) } };
  });

  routeBoth<TokenParams>(app, 'GET', '/os-console-auth-tokens/:console_token', { policy: 'os_compute_api:os-console-auth-tokens' }, async (req) => {
    const row = await findConsoleToken(deps.db, req.params.console_token);
    if (!row) throw new NotFound('Token not found');
    // Before 2.31 the API showed RDP consoles' tokens only (Nova's rdp_only), which Orrery has none of.
    if (!mvAtLeast(req, '2.31') && row.console_type !== 'rdp-html5') throw new Unauthorized('The requested console type details are not accessible');
    return { console: { instance_uuid: row.instance_uuid, host: row.host, port: row.port, internal_access_path: row.internal_access_path } };
  });
}
