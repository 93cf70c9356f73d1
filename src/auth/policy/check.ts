/**
 * oslo.policy's check language: a parser into a small tree and its evaluator.
 *
 * Grammar (as oslo.policy's _parser): `expr := or; or := and ('or' and)*; and := not ('and' not)*;
 * not := 'not' not | '(' expr ')' | check`, where a check is `@` (always), `!` (never),
 * `rule:<name>`, `role:<name>` or a generic `<field>:<match>` (`project_id:%(project_id)s`,
 * `is_admin:True`, `'literal':%(target_field)s`). An empty string allows everything, as in oslo.
 *
 * Unlike oslo.policy, a string that does not parse is an error here (oslo logs and denies): an
 * operator's typo in policy.yaml should stop the load, not silently lock everyone out.
 * Credentials and targets are Maps, so a request-chosen name can never reach a prototype.
 */

/** Bounds that protect the process from a hostile or runaway policy file. */
export const MAX_CHECK_LENGTH = 4096;
export const MAX_NESTING = 32;
/** How deep `rule:` references may chain at evaluation (a cycle in overrides ends here). */
export const MAX_RULE_DEPTH = 32;

export type Check =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'and'; of: Check[] }
  | { kind: 'or'; of: Check[] }
  | { kind: 'not'; of: Check }
  | { kind: 'rule'; name: string }
  | { kind: 'role'; match: string }
  | { kind: 'generic'; field: string; match: string };

export class PolicySyntaxError extends Error {}

/** What a check is evaluated against: the caller's credentials and the target of the action. */
export interface CheckInput {
  /** Credential fields: `roles` (string[]), `user_id`, `project_id`, `is_admin`, … */
  readonly creds: ReadonlyMap<string, unknown>;
  /** Target fields: `project_id`, `user_id` of the resource acted on. */
  readonly target: ReadonlyMap<string, unknown>;
  /** Resolves `rule:<name>`; undefined when there is no such rule (the check fails). */
  readonly rule: (name: string) => Check | undefined;
}

type Token = '(' | ')' | 'and' | 'or' | 'not' | { check: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const raw of text.split(/\s+/)) {
    if (raw === '') continue;
    let word = raw;
    let opening = 0;
    while (word.startsWith('(')) { opening++; word = word.slice(1); }
    let closing = 0;
    while (word.endsWith(')')) { closing++; word = word.slice(0, -1); }
    for (let i = 0; i < opening; i++) out.push('(');
    if (word !== '') {
      const lower = word.toLowerCase();
      if (lower === 'and' || lower === 'or' || lower === 'not') out.push(lower);
      else out.push({ check: word });
    }
    for (let i = 0; i < closing; i++) out.push(')');
  }
  return out;
}

function atom(word: string): Check {
  if (word === '@') return { kind: 'true' };
  if (word === '!') return { kind: 'false' };
  const colon = word.indexOf(':');
  if (colon <= 0) throw new PolicySyntaxError(`not a check: ${JSON.stringify(word)}`);
  const kind = word.slice(0, colon);
  const match = word.slice(colon + 1);
  if (kind === 'rule') return { kind: 'rule', name: match };
  if (kind === 'role') return { kind: 'role', match };
  return { kind: 'generic', field: kind, match };
}

/** Parses one check string; throws PolicySyntaxError (with the reason) when it is not valid. */
export function parseCheck(text: string): Check {
  if (typeof text !== 'string') throw new PolicySyntaxError('a rule must be a string');
  if (text.length > MAX_CHECK_LENGTH) throw new PolicySyntaxError(`a rule is longer than ${MAX_CHECK_LENGTH} characters`);
  const tokens = tokenize(text);
  if (tokens.length === 0) return { kind: 'true' };
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const parseOr = (depth: number): Check => {
    const of = [parseAnd(depth)];
    while (peek() === 'or') { pos++; of.push(parseAnd(depth)); }
    return of.length === 1 ? of[0]! : { kind: 'or', of };
  };
  const parseAnd = (depth: number): Check => {
    const of = [parseNot(depth)];
    while (peek() === 'and') { pos++; of.push(parseNot(depth)); }
    return of.length === 1 ? of[0]! : { kind: 'and', of };
  };
  const parseNot = (depth: number): Check => {
    if (depth > MAX_NESTING) throw new PolicySyntaxError(`a rule nests deeper than ${MAX_NESTING}`);
    const t = peek();
    if (t === 'not') { pos++; return { kind: 'not', of: parseNot(depth + 1) }; }
    if (t === '(') {
      pos++;
      const inner = parseOr(depth + 1);
      if (peek() !== ')') throw new PolicySyntaxError('unbalanced parentheses');
      pos++;
      return inner;
    }
    if (t === undefined || typeof t === 'string') throw new PolicySyntaxError(`unexpected ${t === undefined ? 'end' : JSON.stringify(t)}`);
    pos++;
    return atom(t.check);
  };
  const tree = parseOr(0);
  if (pos !== tokens.length) throw new PolicySyntaxError(`unexpected ${JSON.stringify(tokens[pos])}`);
  return tree;
}

/** oslo's `match % target`: `%(name)s` takes the target's field; undefined when it has none. */
function substitute(match: string, target: ReadonlyMap<string, unknown>): string | undefined {
  let missing = false;
  const out = match.replace(/%\(([^)]*)\)s/g, (_m, name: string) => {
    const v = target.get(name);
    if (v === undefined || v === null) { missing = true; return ''; }
    return pyStr(v);
  });
  return missing ? undefined : out;
}

/** Python's str() of the values credentials hold, so `is_admin:True` compares as in oslo. */
function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}

function quoted(s: string): string | undefined {
  if (s.length >= 2 && (s[0] === "'" || s[0] === '"') && s.at(-1) === s[0]) return s.slice(1, -1);
  return undefined;
}

/** Evaluates a parsed check. */
export function evaluate(check: Check, input: CheckInput, depth = 0): boolean {
  switch (check.kind) {
    case 'true': return true;
    case 'false': return false;
    case 'and': return check.of.every((c) => evaluate(c, input, depth));
    case 'or': return check.of.some((c) => evaluate(c, input, depth));
    case 'not': return !evaluate(check.of, input, depth);
    case 'rule': {
      if (depth >= MAX_RULE_DEPTH) return false;
      const rule = input.rule(check.name);
      return rule !== undefined && evaluate(rule, input, depth + 1);
    }
    case 'role': {
      const want = substitute(check.match, input.target);
      if (want === undefined) return false;
      const roles = input.creds.get('roles');
      return Array.isArray(roles) && roles.some((r) => typeof r === 'string' && r.toLowerCase() === want.toLowerCase());
    }
    case 'generic': {
      const value = substitute(check.match, input.target);
      if (value === undefined) return false;
      const literal = quoted(check.field);
      if (literal !== undefined) return literal === value;
      // A literal match against a credential field; oslo also walks dotted paths into dicts.
      let cur: unknown = input.creds;
      for (const part of check.field.split('.')) {
        if (cur instanceof Map) cur = cur.get(part);
        else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && Object.hasOwn(cur, part)) cur = (cur as Record<string, unknown>)[part];
        else return false;
      }
      if (cur === undefined || cur === null) return false;
      if (Array.isArray(cur)) return cur.some((x) => pyStr(x) === value);
      return pyStr(cur) === value;
    }
  }
}
