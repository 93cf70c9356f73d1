/** Clock seam: services take `now()` from here so tests can reason about time. */
export const now = (): Date => new Date();

/** Nova's timestamp format: 2026-11-21T10:20:30Z (seconds, UTC). */
export function isoSeconds(d: Date | string | null | undefined): string | null {
  if (d === null || d === undefined) return null;
  const date = typeof d === 'string' ? new Date(d) : d;
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Nova's instance-action / microsecond format: 2026-11-21T10:20:30.000000 (no zone). */
export function isoMicros(d: Date | string | null | undefined): string | null {
  if (d === null || d === undefined) return null;
  const date = typeof d === 'string' ? new Date(d) : d;
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000');
}

/** Keystone's format: 2026-11-21T10:20:30.000000Z. */
export function isoKeystone(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
