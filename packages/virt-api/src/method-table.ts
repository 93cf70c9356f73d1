/**
 * The contract's method table: which minor version added each driver method, and the optional
 * method groups. version.ts derives the handshake's rules from it.
 */
import type { DriverMethod } from './contract.js';

/**
 * The methods each contract minor version added, in interface order. A driver that agreed
 * version V must have every method added up to V (outside optional groups); the compute
 * service calls none added after V. A replaced method lives beside its successor for one
 * minor version and leaves only with a new major version.
 */
export const METHODS_ADDED: Readonly<Record<string, readonly DriverMethod[]>> = {
  '1.0': [
    'version', 'capabilities', 'init', 'shutdown', 'listNodes', 'listInstances', 'getInstance',
    'spawn', 'destroy', 'reboot', 'powerOff', 'powerOn', 'pause', 'unpause', 'suspend', 'resume',
    'rebuild', 'getConsoleOutput', 'snapshot', 'onEvent',
  ],
  '1.1': ['onNodeEvent', 'status', 'getNode'],
  '1.2': [
    'migrateDiskAndPowerOff', 'finishMigration', 'confirmMigration', 'revertMigration', 'finishRevertMigration',
    'preLiveMigration', 'liveMigration', 'liveMigrationForceComplete', 'postLiveMigrationAtDestination',
    'postLiveMigrationAtSource', 'rollbackLiveMigrationAtDestination',
  ],
  '1.3': ['plugVifs', 'unplugVifs', 'attachInterface', 'detachInterface'],
  '1.4': ['getConsole'],
};

/** The version that added each method. */
export const METHOD_SINCE: Readonly<Record<DriverMethod, string>> = Object.fromEntries(
  Object.entries(METHODS_ADDED).flatMap(([v, methods]) => methods.map((m) => [m, v])),
) as Record<DriverMethod, string>;

/**
 * Optional method groups: methods a driver implements only if it declares the group in
 * version().groups. A group exists from its `since` version on; the guard refuses its methods
 * (NotInContract) to a driver that did not declare it, and the loader demands them of one
 * that did.
 */
export const OPTIONAL_GROUPS: Readonly<Record<string, { since: string; methods: readonly DriverMethod[]; meaning: string }>> = {
  nodeLookup: {
    since: '1.1',
    methods: ['getNode'],
    meaning: 'reads one node without listing all (a back-end with many nodes that come and go)',
  },
};

/** Every method of every version this package defines, in version then interface order. */
export const DRIVER_METHODS: readonly DriverMethod[] = Object.values(METHODS_ADDED).flat();
