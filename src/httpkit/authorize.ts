import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ownTarget, type PolicyEnforcer, type PolicyTarget, type RefusalStyle } from '../auth/policy/enforcer.js';

/**
 * Policy enforcement of the HTTP kit. Every route that is not public names its oslo.policy rule
 * (`config.policy`); the kit checks it before the handler against the caller's own project and
 * user (Nova's default target). Routes whose rule is about a resource the handler must first
 * find (a server's owner) say `policyInHandler` and call `authorize` with that target; routes
 * that dispatch to many actions list each action's rule in `actionPolicies`.
 */

export interface AppPolicy {
  readonly enforcer: PolicyEnforcer;
  /** How this API words a refusal (see refusalMessage). */
  readonly style: RefusalStyle;
  /** The target of the route-level check (default: the caller's own project and user). */
  readonly targetOf?: (req: FastifyRequest) => PolicyTarget;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's rule is checked by its handler, with the resource as target. */
    policyInHandler?: boolean;
    /** The rules of the actions one route dispatches to (each checked by the handler). */
    actionPolicies?: readonly string[];
  }
  interface FastifyInstance {
    appPolicy: AppPolicy;
  }
}

/** The owner fields of a resource a rule is checked on (Nova's target). */
export interface PolicyTargetFields {
  project_id?: string | null;
  user_id?: string | null;
  [field: string]: unknown;
}

/** Checks `rule` for the request's caller on `target` (default: the caller's own project). */
export function authorize(req: FastifyRequest, rule: string, target?: PolicyTargetFields): void {
  const { enforcer, style } = req.server.appPolicy;
  enforcer.authorize(rule, req.auth, target === undefined ? ownTarget(req.auth) : new Map(Object.entries(target)), style);
}

/** Whether the caller passes `rule` on its own project (for answers that depend on it, not refusals). */
export function allowed(req: FastifyRequest, rule: string): boolean {
  try {
    authorize(req, rule);
    return true;
  } catch {
    return false;
  }
}

/** Wires enforcement into an app: the per-route check and the start-time check of the route table. */
export function installPolicy(app: FastifyInstance, policy: AppPolicy): void {
  app.decorate('appPolicy', policy);
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    if (cfg?.public || !cfg?.policy || cfg.policyInHandler) return;
    policy.enforcer.authorize(cfg.policy, req.auth, policy.targetOf?.(req) ?? ownTarget(req.auth), policy.style);
  });
  // A route without a rule, or naming one nobody defined, would be open or shut by accident.
  app.addHook('onReady', async () => {
    const problems: string[] = [];
    for (const r of app.routeTable) {
      if (r.public) continue;
      const rules = [...(r.policy ? [r.policy] : []), ...r.actionPolicies];
      if (rules.length === 0) problems.push(`${r.method} ${r.url} names no policy rule`);
      for (const rule of rules) if (!policy.enforcer.has(rule)) problems.push(`${r.method} ${r.url} names the unknown policy rule ${rule}`);
    }
    if (problems.length > 0) throw new Error(`policy: ${problems.join('; ')}`);
  });
}
