/**
 * @orrery/virt-api — the driver contract (version 1.4; drives 1.0–1.3 drivers too). Every driver depends on this package
 * and on nothing else of Orrery's. The conformance kit is a separate entry point:
 * '@orrery/virt-api/conformance'.
 */
export * from './contract.js';
export * from './moves.js';
export * from './vifs.js';
export * from './consoles.js';
export * from './errors.js';
export * from './capabilities.js';
export * from './events.js';
export * from './version.js';
export * from './guard.js';
export * from './loader.js';
export * from './options.js';
export * from './image-download.js';
