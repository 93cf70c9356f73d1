/**
 * The semantic contract version and the handshake.
 *
 * MAJOR changes remove calls; MINOR changes add them (a replaced call lives beside its
 * successor for one minor version). A driver declares the range it implements; the compute
 * service declares the range it can drive; they work together iff the ranges share a version.
 */
import type { ContractVersion, DriverVersionInfo } from './contract.js';
import { DriverLoadError } from './errors.js';

/** The contract version this package defines. */
export const CONTRACT_VERSION = '1.0';

/** The versions a compute service built on this package can drive. */
export const SUPPORTED_CONTRACT: { min: string; max: string } = { min: CONTRACT_VERSION, max: CONTRACT_VERSION };

export function parseVersion(v: string): ContractVersion {
  const m = /^(\d+)\.(\d+)$/.exec(typeof v === 'string' ? v.trim() : '');
  if (!m) throw new DriverLoadError('IncompatibleContract', `invalid contract version ${JSON.stringify(v)} (want MAJOR.MINOR)`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function compareVersions(a: ContractVersion, b: ContractVersion): number {
  return a.major - b.major || a.minor - b.minor;
}

export function formatVersion(v: ContractVersion): string {
  return `${v.major}.${v.minor}`;
}

function formatRange(r: { min: string; max: string }): string {
  return r.min === r.max ? r.min : `${r.min}–${r.max}`;
}

/**
 * The handshake: returns the contract version both sides will use (the highest shared one),
 * or throws DriverLoadError('IncompatibleContract') with a message an operator can act on.
 */
export function checkCompatibility(
  info: DriverVersionInfo,
  service: { min: string; max: string } = SUPPORTED_CONTRACT,
): string {
  const name = info?.name || '(unnamed)';
  if (!info?.contract) throw new DriverLoadError('IncompatibleContract', `driver ${name} declares no contract version range`);
  const dMin = parseVersion(info.contract.min);
  const dMax = parseVersion(info.contract.max);
  const sMin = parseVersion(service.min);
  const sMax = parseVersion(service.max);
  if (compareVersions(dMin, dMax) > 0) {
    throw new DriverLoadError('IncompatibleContract', `driver ${name} declares an empty contract range ${info.contract.min}–${info.contract.max}`);
  }
  const low = compareVersions(dMin, sMin) > 0 ? dMin : sMin;
  const high = compareVersions(dMax, sMax) < 0 ? dMax : sMax;
  if (compareVersions(low, high) > 0) {
    throw new DriverLoadError(
      'IncompatibleContract',
      `driver ${name} implements contract ${formatRange(info.contract)}; this compute service speaks ${formatRange(service)}`,
    );
  }
  return formatVersion(high);
}
