import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { parseCheck, PolicySyntaxError } from './check.js';
import type { PolicyEnforcer } from './enforcer.js';

/** Bounds of one policy file: far above Nova's ~300 rules, far below what would hurt the process. */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;
export const MAX_POLICY_RULES = 5000;

/**
 * Reads oslo.policy's policy file: a YAML (or JSON, which YAML reads too) mapping of rule name →
 * check string. A missing file is no overrides, as in oslo.policy; anything else that is not a
 * valid file (not a mapping, a value that is not a string, a rule that does not parse, too big)
 * throws, naming the problem.
 */
export async function readPolicyFile(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  return parsePolicyText(text, path);
}

export function parsePolicyText(text: string, where = 'policy file'): Map<string, string> {
  if (Buffer.byteLength(text) > MAX_POLICY_FILE_BYTES) throw new PolicySyntaxError(`${where}: larger than ${MAX_POLICY_FILE_BYTES} bytes`);
  let doc: unknown;
  try {
    // maxAliasCount bounds the "billion laughs" expansion of YAML aliases; mapAsMap keeps names as data.
    doc = parse(text, { maxAliasCount: 100, uniqueKeys: true, mapAsMap: true });
  } catch (err) {
    throw new PolicySyntaxError(`${where}: ${(err as Error).message}`);
  }
  const out = new Map<string, string>();
  if (doc === null || doc === undefined) return out;
  if (!(doc instanceof Map)) throw new PolicySyntaxError(`${where}: must be a mapping of rule names to rules`);
  if (doc.size > MAX_POLICY_RULES) throw new PolicySyntaxError(`${where}: more than ${MAX_POLICY_RULES} rules`);
  for (const [name, value] of doc as Map<unknown, unknown>) {
    if (typeof name !== 'string') throw new PolicySyntaxError(`${where}: rule names must be strings`);
    // oslo.policy reads a JSON list as its old list-of-lists form; only the empty one ("allow") is kept here.
    const text = Array.isArray(value) && value.length === 0 ? '' : value;
    if (typeof text !== 'string') throw new PolicySyntaxError(`${where}: the rule ${JSON.stringify(name)} must be a string`);
    try {
      parseCheck(text);
    } catch (err) {
      throw new PolicySyntaxError(`${where}: rule ${JSON.stringify(name)}: ${(err as Error).message}`);
    }
    out.set(name, text);
  }
  return out;
}

/**
 * Reads the policy file into the enforcer: all of it or nothing (the old overrides stay in force
 * when the file is bad, and the error says why). Answers how many overrides are now in force.
 */
export async function applyPolicyFile(enforcer: PolicyEnforcer, path: string): Promise<number> {
  const rules = await readPolicyFile(path);
  enforcer.setOverrides(rules);
  return rules.size;
}
