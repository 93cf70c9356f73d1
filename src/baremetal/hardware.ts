import { BmcRefused, FakePower, IpmitoolPower, type IpmiTarget, type PowerInterface, type PowerState } from '@orrery/baremetal-ipmi';
import type { Config } from '../common/config.js';
import type { BmNodeRow } from '../db/baremetal-nodes.js';
import { openDriverInfo, type Json, type Sealer } from './driver-info.js';

/**
 * A node's power interface from its hardware type (Ironic's names): `ipmi` talks to the BMC
 * its driver_info names through ipmitool; `fake-hardware` has no machine behind it and starts
 * from the power state recorded for the node, so every conductor sees the same.
 */
export function powerInterfaceOf(node: BmNodeRow, keys: Sealer, config: Config): PowerInterface {
  if (node.driver === 'fake-hardware') return new FakePower(node.power_state === 'power on' ? 'power on' : 'power off');
  if (node.driver !== 'ipmi') throw new BmcRefused(`node ${node.uuid}: hardware type ${node.driver} is not enabled`);
  const info = openDriverInfo(keys, node.uuid, node);
  const target = ipmiTargetOf(node.uuid, info);
  return new IpmitoolPower(target, {
    timeoutMs: config.num('baremetal', 'ipmi_timeout') * 1000,
    attempts: config.num('baremetal', 'ipmi_attempts'),
  });
}

const PRIVILEGES = ['ADMINISTRATOR', 'OPERATOR', 'USER'] as const;

/** The BMC driver_info names; a missing or malformed key is refused before any call (Ironic's validate). */
export function ipmiTargetOf(uuid: string, info: Json): IpmiTarget {
  const str = (k: string): string => {
    const v = info[k];
    if (typeof v !== 'string' || v === '') throw new BmcRefused(`node ${uuid}: driver_info ${k} is missing`);
    return v;
  };
  const portValue = info.ipmi_port ?? 623;
  const port = typeof portValue === 'string' ? Number(portValue) : portValue;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new BmcRefused(`node ${uuid}: driver_info ipmi_port is not a port`);
  const priv = info.ipmi_priv_level;
  if (priv !== undefined && !PRIVILEGES.includes(priv as never)) {
    throw new BmcRefused(`node ${uuid}: driver_info ipmi_priv_level must be ADMINISTRATOR, OPERATOR or USER`);
  }
  return {
    address: str('ipmi_address'), port, username: str('ipmi_username'), password: str('ipmi_password'),
    ...(priv !== undefined ? { privilege: priv as (typeof PRIVILEGES)[number] } : {}),
  };
}

export type { PowerState };
