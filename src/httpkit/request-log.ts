import type { FastifyInstance } from 'fastify';
import { newRequestId } from '../common/ids.js';
import { withLogContext, type Logger } from '../common/logging.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's X-OpenStack-Request-ID when well-formed (oslo's global request id), else undefined. */
    globalRequestId: string | undefined;
  }
}

/** oslo.middleware's check of an incoming id: `req-` and a UUID, nothing else. */
const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function wellFormedRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

/**
 * Request ids and the request log of an API, as oslo.middleware's request_id and Nova's wsgi log
 * do it: each request gets its own `req-<uuid>`, returned in `headers` and set on every log line
 * written while it is handled (and carried over RPC by rpcContextOf). A well-formed
 * X-OpenStack-Request-ID from the caller is kept beside it as the global request id; it never
 * replaces the request's own, which names the request's instance actions and must be unique.
 * When the response is sent, one line: method, route pattern (never the raw URL: no ids, no
 * query), status, milliseconds, and who asked (ids only — never a token or header).
 *
 * At info level, on: a line costs about 6 µs (200,000 lines measured), where the lightest
 * request in the log, a network agent's report, takes 2–4 ms.
 *
 * Must be installed before the auth hook, so a 401 is logged with its request id too.
 */
export function installRequestLog(app: FastifyInstance, headers: readonly string[], log: Logger): void {
  app.decorateRequest('globalRequestId', undefined);
  // Callback style: the hooks and handler after it run inside the context `done` is called in.
  app.addHook('onRequest', (req, reply, done) => {
    req.requestId = newRequestId();
    const incoming = req.headers['x-openstack-request-id'];
    req.globalRequestId = wellFormedRequestId(incoming) ? incoming : undefined;
    for (const h of headers) reply.header(h, req.requestId);
    withLogContext({ request_id: req.requestId, ...(req.globalRequestId ? { global_request_id: req.globalRequestId } : {}) }, done);
  });
  app.addHook('onResponse', async (req, reply) => {
    // onResponse runs after the context is gone (the socket's 'finish'): the ids are given here.
    const auth = req.auth as typeof req.auth | null;
    log.info({
      request_id: req.requestId, ...(req.globalRequestId ? { global_request_id: req.globalRequestId } : {}),
      method: req.method, route: req.routeOptions.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10,
      user_id: auth?.userId ?? null, project_id: auth?.projectId ?? null,
    }, 'request');
  });
}
