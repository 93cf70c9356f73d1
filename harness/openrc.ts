import { readFileSync } from 'node:fs';

/** The variables an openrc exports, as a shell that sources it would see them. */
export function readOpenrc(path: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of readFileSync(path, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)) vars[m[1]!] = m[2]!;
  return vars;
}
