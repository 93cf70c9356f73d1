/**
 * Application-credential access rules (Keystone's `access_rules`, enforced by keystonemiddleware
 * in every service): a token issued by a credential that has rules may make only the requests
 * one rule allows — its service type, its HTTP method, and its path, where `*` stands for one
 * path segment and `**` for any number of them (none included). Everything else is refused 401,
 * as the middleware refuses it.
 */

export interface AccessRule {
  id: string;
  /** A service type of the catalog: compute, image, identity, network, placement, … */
  service: string;
  /** An HTTP method, upper case. */
  method: string;
  /** A path template, e.g. `/v2.1/servers/*` (matched against the request's path, no query). */
  path: string;
}

/** Bounds that keep one credential's rules cheap to check on every request. */
export const MAX_ACCESS_RULES = 50;
export const MAX_ACCESS_RULE_PATH = 1024;

export const ACCESS_RULE_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * keystonemiddleware's `_path_matches`, without its regex: `*` and `{name}` stand for one or more
 * characters other than `/`, `**` for any characters (`/` included), the rest for itself; the
 * whole path must match. A dynamic programme over (template token, path character), so a
 * template full of `**` costs tokens × characters, never the backtracking of a regex.
 */
export function accessPathMatches(template: string, path: string): boolean {
  type Tok = { kind: 'lit'; ch: string } | { kind: 'seg' } | { kind: 'segs' } | { kind: 'any' };
  const toks: Tok[] = [];
  for (let i = 0; i < template.length;) {
    if (template.startsWith('**', i)) { toks.push({ kind: 'any' }); i += 2; continue; }
    if (template[i] === '*') { toks.push({ kind: 'seg' }, { kind: 'segs' }); i += 1; continue; }
    const close = template[i] === '{' ? template.indexOf('}', i) : -1;
    if (close > i) { toks.push({ kind: 'seg' }, { kind: 'segs' }); i = close + 1; continue; }
    toks.push({ kind: 'lit', ch: template[i]! });
    i += 1;
  }
  // ok[j]: the tokens so far can match the first j characters of the path.
  let ok: boolean[] = Array.from({ length: path.length + 1 }, (_, j) => j === 0);
  for (const t of toks) {
    const next = new Array<boolean>(path.length + 1).fill(false);
    for (let j = 0; j <= path.length; j++) {
      const ch = path[j - 1];
      switch (t.kind) {
        case 'lit': next[j] = j > 0 && ok[j - 1]! && ch === t.ch; break;
        case 'seg': next[j] = j > 0 && ok[j - 1]! && ch !== '/'; break;
        case 'segs': next[j] = ok[j]! || (j > 0 && next[j - 1]! && ch !== '/'); break;
        case 'any': next[j] = ok[j]! || (j > 0 && next[j - 1]!); break;
      }
    }
    ok = next;
  }
  return ok[path.length]!;
}

/** Whether one of `rules` allows the request (HEAD is allowed by a GET rule, as GET routes answer HEAD). */
export function accessAllowed(rules: readonly AccessRule[], service: string, method: string, path: string): boolean {
  const m = method.toUpperCase();
  return rules.some((r) => r.service === service && (r.method === m || (m === 'HEAD' && r.method === 'GET')) && accessPathMatches(r.path, path));
}
