/** "MAJOR.MINOR" versions of RPC APIs and objects. */

export function compareVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return am !== bm ? am - bm : an - bn;
}

/** A receiver at `served` understands a message at `sent`: same major, minor not newer. */
export function versionCompatible(sent: string, served: string): boolean {
  return sent.split('.')[0] === served.split('.')[0] && compareVersions(sent, served) <= 0;
}

export function lowestVersion(versions: string[]): string | null {
  return versions.length === 0 ? null : versions.reduce((a, b) => (compareVersions(a, b) <= 0 ? a : b));
}
