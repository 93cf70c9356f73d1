import type { FastifyInstance } from 'fastify';
import { httpRequestDuration, httpRequests } from '../common/metrics.js';

/** The methods a route may be registered for; any other (a client's own) is counted as OTHER. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route label of a request no route matched: one series for every unknown path. */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * Counts every answered request of `app` and its latency, by route pattern
 * (`/v2.1/servers/:server_id`), never the raw URL: a label per distinct URL would grow without
 * bound with every server id and query string.
 */
export function installMetricsHooks(app: FastifyInstance, api: string): void {
  app.addHook('onResponse', async (req, reply) => {
    // routeOptions.url is the pattern of the route that answered; undefined for the not-found handler.
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    const method = METHODS.has(req.method) ? req.method : 'OTHER';
    httpRequests.inc({ api, method, route, status: String(reply.statusCode) });
    httpRequestDuration.observe({ api, method, route }, reply.elapsedTime / 1000);
  });
}
