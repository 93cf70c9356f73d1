import vm from 'node:vm';
import { BadRequest } from '../common/errors.js';

/**
 * The `name` filter of GET /servers is a Python regular expression matched with `re.search`
 * (Nova's format "regex" in the query schema, and its SQLite REGEXP function). JavaScript's
 * RegExp differs in syntax and meaning, so a pattern is translated, not passed through:
 *
 * - `(?P<n>…)` / `(?P=n)` named groups, `(?#…)` comments, leading global flags `(?aiLmsux)`;
 * - `\A`, `\Z`, Python's `$` (also before a final newline) and `.` (anything but `\n`);
 * - `\w`, `\d` match Unicode letters and digits, as in a Python str pattern;
 * - a `]` first in a class is a literal, a `{` that is no quantifier is a literal;
 * - an escape of an ASCII letter Python does not know is an error, as in Python.
 *
 * What Python accepts and this cannot express (scoped flags `(?i:…)`, `\N{…}`, the verbose flag,
 * atomic groups and possessive quantifiers) is a 400 rather than a different meaning. Matching is
 * bounded in time (MATCH_BUDGET_MS per request): V8's backtracking engine takes exponential time
 * on patterns like `(a+)+$`, and a vm timeout interrupts it mid-match.
 */

/** Time one listing may spend matching names: (a+)+$ on 30 characters took 4 s unbounded. */
export const MATCH_BUDGET_MS = 250;

/** Python's str-pattern `\w` and `\d`. */
const WORD = '\\p{L}\\p{N}_';
const DIGIT = '\\p{Nd}';
/** Characters that keep their backslash in a `u`-mode RegExp (the rest are literals there). */
const SYNTAX = new Set('^$\\.*+?()[]{}|/-'.split(''));
const QUANTIFIER = /^\{\d*(,\d*)?\}/;

function invalid(pattern: string): BadRequest {
  return new BadRequest(`Invalid input for query parameters name. Value: ${pattern}. '${pattern}' is not a 'regex'`);
}

function literal(c: string): string {
  return SYNTAX.has(c) ? `\\${c}` : c;
}

function hex(s: string, at: number, n: number, pattern: string): number {
  const digits = s.slice(at, at + n);
  if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) throw invalid(pattern);
  return parseInt(digits, 16);
}

interface Translated { source: string; flags: string }

/** Translates a Python pattern into a RegExp source and flags; a pattern Python (or this) refuses is a 400. */
export function translatePythonRegex(pattern: string): Translated {
  let flags = new Set<string>(['u']);
  let i = 0;
  // Global flags lead the pattern in Python 3.11 (elsewhere they are an error there too).
  for (let m = /^\(\?([aiLmsux]+)\)/.exec(pattern.slice(i)); m; m = /^\(\?([aiLmsux]+)\)/.exec(pattern.slice(i))) {
    for (const f of m[1]!) {
      if (f === 'x' || f === 'L') throw invalid(pattern);
      if (f === 'i' || f === 'm' || f === 's') flags.add(f);
    }
    i += m[0].length;
  }
  const dotAll = flags.has('s');
  const multiline = flags.has('m');
  let out = '';
  let inClass = false;
  let classStart = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const e = pattern[i + 1];
      if (e === undefined) throw invalid(pattern);
      i += 2;
      if (/[0-9]/.test(e)) { out += `\\${e}`; }
      else if (e === 'A') { if (inClass) throw invalid(pattern); out += '(?<![\\s\\S])'; }
      else if (e === 'Z') { if (inClass) throw invalid(pattern); out += '(?![\\s\\S])'; }
      else if (e === 'w') out += inClass ? WORD : `[${WORD}]`;
      else if (e === 'W') out += inClass ? '\\W' : `[^${WORD}]`;
      else if (e === 'd') out += inClass ? DIGIT : `[${DIGIT}]`;
      else if (e === 'D') out += inClass ? '\\D' : `[^${DIGIT}]`;
      else if (e === 'b') out += inClass ? '\\x08' : '\\b';
      else if (e === 'B') { if (inClass) throw invalid(pattern); out += '\\B'; }
      else if (e === 'a') out += '\\x07';
      else if ('fnrtvsS'.includes(e)) out += `\\${e}`;
      else if (e === 'x') { out += `\\u{${hex(pattern, i, 2, pattern).toString(16)}}`; i += 2; }
      else if (e === 'u') { out += `\\u{${hex(pattern, i, 4, pattern).toString(16)}}`; i += 4; }
      else if (e === 'U') {
        const cp = hex(pattern, i, 8, pattern);
        if (cp > 0x10ffff) throw invalid(pattern);
        out += `\\u{${cp.toString(16)}}`;
        i += 8;
      } else if (/[A-Za-z]/.test(e)) throw invalid(pattern); // \N{…} and unknown escapes
      else out += literal(e);
      classStart = false;
      continue;
    }
    if (inClass) {
      if (c === ']' && !classStart) { inClass = false; out += ']'; }
      else if (c === ']' || c === '[') out += `\\${c}`;
      else out += c;
      classStart = false;
      i += 1;
      continue;
    }
    if (c === '[') {
      inClass = true;
      classStart = true;
      if (pattern[i + 1] === '^') { out += '[^'; i += 2; } else { out += '['; i += 1; }
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      let m: RegExpExecArray | null;
      if ((m = /^P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest))) { out += `(?<${m[1]}>`; i += 2 + m[0].length; continue; }
      if ((m = /^P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest))) { out += `\\k<${m[1]}>`; i += 2 + m[0].length; continue; }
      if (rest.startsWith('#')) {
        const end = pattern.indexOf(')', i);
        if (end < 0) throw invalid(pattern);
        i = end + 1;
        continue;
      }
      if (/^(:|=|!|<=|<!)/.test(rest)) { out += '(?'; i += 2; continue; }
      throw invalid(pattern); // scoped flags, atomic groups, conditionals
    }
    if (c === '{') {
      const q = QUANTIFIER.exec(pattern.slice(i));
      if (q && out !== '' && q[0] !== '{}' && q[0] !== '{,}') { out += q[0].replace('{,', '{0,'); i += q[0].length; }
      else { out += '\\{'; i += 1; }
      continue;
    }
    if (c === '}' || c === ']') out += `\\${c}`;
    else if (c === '.') out += dotAll ? '[\\s\\S]' : '[^\\n]';
    else if (c === '$' && !multiline) out += '(?=\\n?(?![\\s\\S]))';
    else out += c; // a possessive quantifier (a*+) fails RegExp's own check below: a 400
    i += 1;
  }
  if (inClass) throw invalid(pattern);
  flags = new Set([...flags].filter((f) => f !== 'm' || multiline));
  try {
    new RegExp(out, [...flags].join(''));
  } catch {
    throw invalid(pattern);
  }
  return { source: out, flags: [...flags].join('') };
}

const SCRIPT = new vm.Script('out = names.map((n) => re.test(n));');

/**
 * Matches names against one compiled pattern within a per-request time budget; a pattern that
 * exhausts it is refused (400) rather than letting one request hold the process.
 */
export class NameMatcher {
  private spentMs = 0;
  private readonly re: RegExp;
  private readonly context = vm.createContext(Object.create(null) as object);

  constructor(private readonly pattern: string) {
    const t = translatePythonRegex(pattern);
    this.re = new RegExp(t.source, t.flags);
  }

  matches(names: readonly string[]): boolean[] {
    const left = MATCH_BUDGET_MS - this.spentMs;
    if (left <= 0) throw this.tooCostly();
    const ctx = this.context as { re?: RegExp; names?: readonly string[]; out?: boolean[] };
    ctx.re = this.re;
    ctx.names = names;
    const started = performance.now();
    try {
      SCRIPT.runInContext(this.context, { timeout: Math.max(1, Math.ceil(left)) });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw this.tooCostly();
      throw err;
    } finally {
      this.spentMs += performance.now() - started;
    }
    return [...(ctx.out ?? [])];
  }

  private tooCostly(): BadRequest {
    return new BadRequest(`Invalid input for query parameters name. Value: ${this.pattern}. The pattern took too long to match (limit ${MATCH_BUDGET_MS} ms).`);
  }
}
