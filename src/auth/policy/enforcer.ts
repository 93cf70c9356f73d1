import { Forbidden } from '../../common/errors.js';
import type { AuthContext } from '../context.js';
import type { PolicyDefault } from '../policy-defaults.js';
import { evaluate, parseCheck, PolicySyntaxError, type Check } from './check.js';

/** How each API words a refusal (Nova's, Placement's, Glance's and Keystone's own messages). */
export type RefusalStyle = 'nova' | 'placement' | 'glance' | 'keystone' | 'neutron' | 'ironic';

export function refusalMessage(style: RefusalStyle, rule: string): string {
  switch (style) {
    case 'nova': return `Policy doesn't allow ${rule} to be performed.`;
    case 'placement': return `Policy does not allow ${rule} to be performed.`;
    case 'glance': return `You are not authorized to complete ${rule} action.`;
    case 'keystone': return `You are not authorized to perform the requested action: ${rule}.`;
    case 'neutron': return `(rule:${rule}) is disallowed by policy`;
    case 'ironic': return `Access was denied to the following resource: ${rule}`;
  }
}

/** A refusal by policy: 403 in the API's own format, naming the rule. */
export class PolicyNotAuthorized extends Forbidden {
  constructor(readonly rule: string, style: RefusalStyle) {
    super(refusalMessage(style, rule));
  }
}

/** The target of an action: the resource's owner fields (Nova's `target`), as a Map. */
export type PolicyTarget = ReadonlyMap<string, unknown>;

/** Credentials of a request as oslo.policy sees them (`context.to_policy_values()`). */
export function credentialsOf(auth: AuthContext): ReadonlyMap<string, unknown> {
  return new Map<string, unknown>([
    ['roles', auth.roles.map((r) => r.name)],
    ['user_id', auth.userId],
    ['project_id', auth.projectId],
    ['user_domain_id', auth.userDomainId],
    ['project_domain_id', auth.projectDomainId],
    // A domain-scoped token's domain (Keystone's `token.domain.id`).
    ['domain_id', auth.domainId ?? null],
    ['is_admin', auth.isAdmin],
  ]);
}

/** Nova's default target when the route has no resource yet: the caller's own project and user. */
export function ownTarget(auth: AuthContext): PolicyTarget {
  return new Map<string, unknown>([['project_id', auth.projectId], ['user_id', auth.userId]]);
}

/**
 * The rules in force: the defaults in code, each replaced by an operator's override where
 * policy.yaml has one (an override may also add rules that others refer to with `rule:`).
 * `setOverrides` swaps the whole set at once, so a reload never leaves half a file in force.
 */
export class PolicyEnforcer {
  private readonly defaults = new Map<string, PolicyDefault>();
  private readonly parsedDefaults = new Map<string, Check>();
  private overrides = new Map<string, Check>();

  constructor(defaults: readonly PolicyDefault[]) {
    for (const d of defaults) {
      if (this.defaults.has(d.name)) throw new Error(`policy rule ${d.name} is defined twice`);
      this.defaults.set(d.name, d);
      try {
        this.parsedDefaults.set(d.name, parseCheck(d.check));
      } catch (err) {
        throw new Error(`default of policy rule ${d.name} does not parse: ${(err as Error).message}`);
      }
    }
  }

  /** Whether a rule of this name exists (in code or in the overrides). */
  has(name: string): boolean {
    return this.parsedDefaults.has(name) || this.overrides.has(name);
  }

  /** The defaults in code, in the order given (what `orrery policy list` prints). */
  listDefaults(): readonly PolicyDefault[] {
    return [...this.defaults.values()];
  }

  /** Replaces every override at once; throws PolicySyntaxError (and keeps the old ones) if one does not parse. */
  setOverrides(rules: ReadonlyMap<string, string>): void {
    const next = new Map<string, Check>();
    for (const [name, text] of rules) {
      try {
        next.set(name, parseCheck(text));
      } catch (err) {
        throw new PolicySyntaxError(`rule ${JSON.stringify(name)}: ${(err as Error).message}`);
      }
    }
    this.overrides = next;
  }

  private rule(name: string): Check | undefined {
    return this.overrides.get(name) ?? this.parsedDefaults.get(name);
  }

  /** Whether the credentials pass the rule on the target; an unknown rule denies. */
  enforce(name: string, creds: ReadonlyMap<string, unknown>, target: PolicyTarget): boolean {
    const check = this.rule(name);
    if (check === undefined) return false;
    return evaluate(check, { creds, target, rule: (n) => this.rule(n) });
  }

  /** Throws PolicyNotAuthorized unless the request's caller passes the rule on the target. */
  authorize(name: string, auth: AuthContext, target: PolicyTarget, style: RefusalStyle): void {
    if (!this.enforce(name, credentialsOf(auth), target)) throw new PolicyNotAuthorized(name, style);
  }
}
