import type { NetworkInfo, VirtDriver } from '@orrery/virt-api';
import { now } from '../common/time.js';
import type { ImageMeta, Instance } from '../objects/compute.js';
import { VmState } from '../objects/states.js';
import { instanceRef, instanceSpec } from './specs.js';

/** Seconds a rebuilt guest that was SHUTOFF gets to power off cleanly, as stop_instance gives it. */
const STOP_TIMEOUT_S = 60;

/**
 * Rebuilds an instance on its driver and leaves it in the state it was in: a STOPPED server is
 * spawned from the new image and then powered off again (Nova's rebuild_instance: "bringing vm
 * to original state"), so a rebuild never starts a guest its user had shut down.
 */
export async function rebuildKeepingState(
  d: VirtDriver, i: Instance, image: ImageMeta, network?: NetworkInfo,
): Promise<{ vmState: string; powerState: number; launchedAt: string }> {
  const spec = instanceSpec(i, image, network);
  const info = await d.rebuild({ instance: spec, image: spec.image });
  const launchedAt = now().toISOString();
  if (i.vmState !== VmState.STOPPED) return { vmState: VmState.ACTIVE, powerState: info.powerState, launchedAt };
  await d.powerOff(instanceRef(i), STOP_TIMEOUT_S);
  return { vmState: VmState.STOPPED, powerState: (await d.getInstance(instanceRef(i))).powerState, launchedAt };
}
