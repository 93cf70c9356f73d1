export * from './power.js';
export { FakePower } from './fake.js';
export { IpmitoolPower, type IpmiTarget, type IpmitoolOptions } from './ipmitool.js';
