import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { BadRequest, OrreryError, Unauthorized } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { AuthContext, TokenValidator } from '../auth/context.js';
import type { RpcContext } from '../rpc/bus.js';
import { untrustedInputProblem } from './untrusted-input.js';
import { installRequestLog } from './request-log.js';
import { installPolicy, type AppPolicy } from './authorize.js';
import { installHealthcheck } from './healthcheck.js';
import { accessAllowed } from '../auth/access-rules.js';
import { installMetricsHooks } from './metrics-hooks.js';

/**
 * How an API renders errors: Nova's {"badRequest": {...}}, Keystone's {"error": {...}}, Glance's,
 * Neutron's {"NeutronError": {...}}, or Ironic's {"error_message": "<JSON text>"}.
 */
export type ErrorFormat = 'nova' | 'keystone' | 'glance' | 'neutron' | 'ironic';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route not marked public. */
    auth: AuthContext;
    requestId: string;
  }
  interface FastifyContextConfig {
    /** Routes that need no token (version documents, token issue). */
    public?: boolean;
    /** The name of the route's policy rule (oslo.policy's name, e.g. `os_compute_api:servers:create`). */
    policy?: string;
    /**
     * The JSON schemas of the bodies a route accepts when its route schema cannot say (one
     * route, many actions each checked by its handler): what the adversarial tests build from.
     */
    bodyVariants?: readonly unknown[];
  }
  interface FastifyInstance {
    /** Every route of the app, as registered: what the route-table tests walk. */
    routeTable: RouteEntry[];
  }
}

export interface RouteEntry {
  method: string;
  url: string;
  public: boolean;
  /** The route's policy rule (checked before the handler, or by it when `policyInHandler`). */
  policy: string | undefined;
  policyInHandler: boolean;
  /** The rules of the actions the route dispatches to, each checked by the handler. */
  actionPolicies: readonly string[];
  hasBody: boolean;
  /** The route's JSON schemas, for tests generated from the route table. */
  schema: { body?: unknown; querystring?: unknown; params?: unknown };
  bodyVariants: readonly unknown[];
}

const KEYSTONE_TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 503: 'Service Unavailable',
};
const NOVA_FAULTS: Record<number, string> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'HTTPMethodNotAllowed',
  409: 'conflictingRequest', 413: 'overLimit', 415: 'unsupportedMediaType', 429: 'overLimit', 500: 'computeFault',
  501: 'notImplemented', 503: 'serviceUnavailable',
};

export function errorBody(format: ErrorFormat, status: number, message: string, faultName?: string): unknown {
  const title = KEYSTONE_TITLES[status] ?? 'Error';
  switch (format) {
    case 'keystone':
      return { error: { code: status, title, message } };
    case 'glance':
      return { code: status, title, message, error: { code: status, title, message } };
    case 'nova':
      return { [faultName ?? NOVA_FAULTS[status] ?? 'computeFault']: { code: status, message } };
    case 'neutron':
      // Neutron's type is the exception's name (NetworkNotFound, IpAddressGenerationFailure…);
      // an error without one of its own is named by its status, as webob names it.
      return { NeutronError: { type: faultName && !Object.values(NOVA_FAULTS).includes(faultName) ? faultName : `HTTP${title.replaceAll(' ', '')}`, message, detail: '' } };
    case 'ironic':
      // Ironic's ParsableErrorMiddleware: the WSME fault as a JSON string inside the body.
      return { error_message: JSON.stringify({ faultcode: status < 500 ? 'Client' : 'Server', faultstring: message, debuginfo: null }) };
  }
}

export interface AppOptions {
  name: string;
  format: ErrorFormat;
  tokens: TokenValidator;
  log: Logger;
  /** Response header carrying the request id (Nova sends both). */
  requestIdHeaders?: string[];
  bodyLimit?: number;
  /** Every authenticated route acts on a project (compute, image, placement): an unscoped token gets 401. */
  requireProjectScope?: boolean;
  /** The rules in force and how this API words a refusal. */
  policy: AppPolicy;
  /** The catalog type application-credential access rules name this API by (default: `name`). */
  serviceType?: string;
}

/**
 * A Fastify app with the behaviour every Orrery API shares: request ids, token auth on every
 * route not marked `config.public`, every route's policy rule, and errors rendered in the API's own
 * format — never a 500 for bad input.
 */
export function createApp(opts: AppOptions): FastifyInstance {
  const log = opts.log.child({ api: opts.name });
  const app = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    // Fastify's own two lines a request are replaced by request-log.ts's one.
    logController: new LogController({ disableRequestLogging: true }),
    // The request id is on every line already (request-log.ts): no child with Fastify's own `reqId`.
    childLoggerFactory: (logger) => logger,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { allErrors: false, removeAdditional: false, coerceTypes: false, useDefaults: false } },
    return503OnClosing: false,
    // Close keep-alive connections on shutdown rather than wait out their timeout.
    forceCloseConnections: true,
  });
  const idHeaders = opts.requestIdHeaders ?? ['x-openstack-request-id'];
  const serviceType = opts.serviceType ?? opts.name;
  const routes: RouteEntry[] = [];
  app.decorate('routeTable', routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      if (method === 'HEAD' && r.exposeHeadRoute !== false && routes.some((x) => x.url === r.url && x.method === 'GET')) continue;
      const cfg = (r.config ?? {}) as {
        public?: boolean; policy?: string; policyInHandler?: boolean; actionPolicies?: readonly string[]; bodyVariants?: readonly unknown[];
      };
      routes.push({
        method, url: r.url, public: cfg.public === true,
        policy: cfg.policy, policyInHandler: cfg.policyInHandler === true, actionPolicies: cfg.actionPolicies ?? [],
        hasBody: r.schema?.body !== undefined,
        schema: { body: r.schema?.body, querystring: r.schema?.querystring, params: r.schema?.params },
        bodyVariants: cfg.bodyVariants ?? [],
      });
    }
  });
  installMetricsHooks(app, opts.name);
  app.decorateRequest('auth', null as unknown as AuthContext);
  app.decorateRequest('requestId', '');

  // Clients send bodies with odd content types (e.g. no type on DELETE); accept JSON leniently.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(/^application\/(.+\+)?json|^application\/openstack-images-v2\.[01]-json-patch/, { parseAs: 'string' }, (req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      const err = new OrreryError(400, 'badRequest', 'Malformed request body') as OrreryError & { statusCode: number };
      done(err, undefined);
    }
  });

  installRequestLog(app, idHeaders, log);
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    if (cfg?.public) return;
    const header = req.headers['x-auth-token'];
    req.auth = await opts.tokens.validate(Array.isArray(header) ? header[0] : header);
    // keystonemiddleware's check: a credential with access rules reaches only what they allow —
    // unless a service acts on the user's behalf with its own token beside it (X-Service-Token).
    const rules = req.auth.applicationCredential?.accessRules;
    if (rules && !accessAllowed(rules, serviceType, req.method, req.url.split('?', 1)[0]!) && !(await isServiceToken(opts.tokens, req.headers['x-service-token']))) {
      throw new Unauthorized('The request you have made requires authentication.');
    }
    if (opts.requireProjectScope && req.auth.projectId === null) throw new Unauthorized('A project-scoped token is required.');
  });
  installPolicy(app, opts.policy);
  installHealthcheck(app, opts.tokens);

  // After auth (401 before 400) and before the route's schema: see untrusted-input.ts.
  app.addHook('preValidation', async (req) => {
    // The query parser's objects have a prototype of their own: copied into plain ones to be walked.
    const problem = untrustedInputProblem({ ...(req.params as object) }, 'path') ?? untrustedInputProblem({ ...(req.query as object) }, 'query')
      ?? untrustedInputProblem(req.body, 'body');
    if (problem) throw new BadRequest(problem);
  });

  // Unknown paths still pass the auth hook first (401 before 404), as the real services answer.
  app.setNotFoundHandler(async (_req, reply) => {
    reply.code(404).send(errorBody(opts.format, 404, 'The resource could not be found.'));
  });

  app.setErrorHandler(async (err: FastifyError | OrreryError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof OrreryError) {
      if (err.status === 401) reply.header('www-authenticate', 'Keystone uri="unknown"');
      return reply.code(err.status).send(errorBody(opts.format, err.status, err.message, err.faultName));
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const detail = fe.validation[0];
      const where = detail?.instancePath ? `${detail.instancePath.slice(1).replaceAll('/', '.')} ` : '';
      const message = `Invalid input for field/attribute ${where}${detail?.message ?? fe.message}`.trim();
      return reply.code(400).send(errorBody(opts.format, 400, message));
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send(errorBody(opts.format, fe.statusCode, fe.message));
    }
    req.log.error({ err }, 'unexpected error');
    return reply.code(500).send(errorBody(opts.format, 500, 'An unexpected error occurred.'));
  });
  return app;
}

/** A valid service token (keystonemiddleware's `service_token_roles`: service, here also admin), not itself a credential's. */
async function isServiceToken(tokens: TokenValidator, header: string | string[] | undefined): Promise<boolean> {
  const id = Array.isArray(header) ? header[0] : header;
  if (id === undefined || id === '') return false;
  try {
    const svc = await tokens.validate(id);
    return svc.applicationCredential === undefined && svc.roles.some((r) => r.name === 'service' || r.name === 'admin');
  } catch {
    return false;
  }
}

/** Base URL of the request as the client addressed it (version documents build links from it). */
export function requestBaseUrl(req: FastifyRequest): string {
  const proto = (req.headers['x-forwarded-proto'] as string | undefined) ?? 'http';
  return `${proto}://${req.headers.host ?? 'localhost'}`;
}

/** The RPC context of an API request: who asked, under which request id. */
export function rpcContextOf(req: FastifyRequest): RpcContext {
  return {
    requestId: req.requestId,
    ...(req.globalRequestId ? { globalRequestId: req.globalRequestId } : {}),
    userId: req.auth.userId,
    projectId: req.auth.projectId,
    roles: req.auth.roles.map((r) => r.name),
    isAdmin: req.auth.isAdmin,
  };
}
