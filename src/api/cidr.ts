import { isIP } from 'node:net';

/** Address arithmetic the compute API needs (a requested fixed IP within a subnet). */

/** The address as a bigint (v4: 32 bits, v6: 128), or null when it is not one. */
export function addressValue(ip: string): { version: 4 | 6; value: bigint } | null {
  const v = isIP(ip);
  if (v === 4) return { version: 4, value: ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) };
  if (v !== 6) return null;
  let text = ip;
  // An embedded v4 tail (::ffff:1.2.3.4) as two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const n = addressValue(tail[1]!)!.value;
    text = text.slice(0, -tail[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  return { version: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** Whether `ip` lies within `cidr` ("10.0.0.0/24", "fd00::/64"); false for anything malformed. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, lenText] = cidr.split('/') as [string, string | undefined];
  const b = addressValue(base);
  const a = addressValue(ip);
  if (!b || !a || a.version !== b.version) return false;
  const bits = b.version === 4 ? 32 : 128;
  const len = lenText === undefined ? bits : Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > bits) return false;
  const shift = BigInt(bits - len);
  return a.value >> shift === b.value >> shift;
}
