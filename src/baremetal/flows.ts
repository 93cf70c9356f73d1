import { BmcError, type PowerInterface } from '@orrery/baremetal-ipmi';
import type { ImageClient } from '../clients/image-client.js';
import type { Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import { sleep } from '../common/time.js';
import type { BmNodeRow } from '../db/baremetal-nodes.js';
import type { BootServer } from './boot-server.js';
import { DeployInputError, ipxeScript, kernelAndRamdiskOf, removeBootFiles, writeBootFiles, type BootFile } from './boot-files.js';
import type { Json } from './driver-info.js';
import { PowerStates, ProvisionStates as S, type PowerTarget } from './states.js';

/**
 * The steps of each provision action and power change on one locked node. Each step is
 * recorded in the node's history by `step`; a step that throws ends the action in the failure
 * state its caller chose (worker.ts), with the error as last_error.
 */
export interface FlowContext {
  node: BmNodeRow;
  power: PowerInterface;
  config: Config;
  /** Runs and records one step (history INFO, or ERROR with the failure). */
  step<T>(event: string, message: string, fn: () => Promise<T>): Promise<T>;
  /** Writes columns of the node (the worker holds its lock). */
  update(changes: Partial<BmNodeRow>): Promise<void>;
  images: ImageClient | null;
  boot: BootServer | null;
  /** Where the boot files live ([baremetal] http_root). */
  httpRoot: string;
  /** How many ports (MAC addresses) the node has. */
  ports(node: string): Promise<number>;
  /** Aborted when the conductor stops: a wait gives up. */
  signal: AbortSignal;
}

const isFake = (node: BmNodeRow): boolean => node.driver === 'fake-hardware';

/** Ironic's verify: the BMC answers with the credentials given; its power state is recorded. */
export async function verify(c: FlowContext): Promise<void> {
  const state = await c.step('verify', 'reading the power state from the BMC', () => c.power.getPower());
  await c.update({ power_state: state });
}

/** Powers the node off if it is on, and records the state. */
async function powerOff(c: FlowContext): Promise<void> {
  const state = await c.power.getPower();
  if (state === 'power on') await c.step('power off', 'power off', () => c.power.setPower('off'));
  await c.update({ power_state: 'power off' });
}

/**
 * Cleaning (on provide, on clean, and after every undeploy): power off and remove the node's
 * boot files, so nothing of the last instance can boot again. The machines here netboot from
 * RAM (kernel + ramdisk): no disk was written, so there is no disk to erase.
 */
export async function clean(c: FlowContext): Promise<void> {
  await powerOff(c);
  await c.step('clean', 'removing the boot files', () => removeBootFiles(c.httpRoot, c.node.uuid));
}

/** Undeploy: power off, remove the boot files, forget the instance. Cleaning follows. */
export async function tearDown(c: FlowContext): Promise<void> {
  await powerOff(c);
  await c.step('tear down', 'removing the boot files and the instance', () => removeBootFiles(c.httpRoot, c.node.uuid));
  await c.update({ instance_uuid: null, instance_info: '{}' });
}

/**
 * Deploy by PXE: write the iPXE script naming the instance's kernel and ramdisk, boot from the
 * network (persistently: a netbooted instance lives in RAM, and each reboot boots it again from
 * its files), power-cycle, and wait until the machine fetched its kernel and ramdisk — it
 * netbooted — polling its power meanwhile (a BMC that stops answering fails the deploy).
 * fake-hardware has no machine: it is powered on (Ironic's fake deploy).
 */
export async function deploy(c: FlowContext, onWait: () => Promise<void>): Promise<void> {
  if (isFake(c.node)) {
    await c.step('deploy', 'fake hardware: powering on', () => c.power.setPower('on'));
    await c.update({ power_state: 'power on' });
    return;
  }
  const { images, boot } = c;
  if (!images) throw new DeployInputError('this conductor has no image API client ([service_user] auth_url)');
  if (!boot) throw new DeployInputError('this conductor serves no boot files ([baremetal] http_port is empty)');
  if ((await c.ports(c.node.uuid)) === 0) throw new DeployInputError('the node has no port: a machine finds its iPXE script by its MAC address (openstack baremetal port create)');
  const info = JSON.parse(c.node.instance_info) as Json;
  const ids = await c.step('deploy', 'finding the instance\'s kernel and ramdisk', () => kernelAndRamdiskOf(images, info));
  const append = typeof info.kernel_append_params === 'string' ? info.kernel_append_params : ids.cmdline ?? c.config.str('baremetal', 'kernel_append_params');
  const script = ipxeScript(c.node.uuid, c.config.str('baremetal', 'http_url'), append);
  await c.step('deploy', `writing the boot files (kernel ${ids.kernel}, ramdisk ${ids.ramdisk})`,
    () => writeBootFiles(c.httpRoot, c.node.uuid, images, ids, script));
  await powerOff(c);
  await c.step('set boot device', 'pxe (persistent)', () => c.power.setBootDevice('pxe', true));
  await c.update({ boot_device: 'pxe', boot_device_persistent: 1 });
  const fetched = new Set<BootFile>();
  const unsubscribe = boot.onFetched((node, file) => { if (node === c.node.uuid) fetched.add(file); });
  try {
    await c.step('power on', 'power on to netboot', () => c.power.setPower('on'));
    await c.update({ power_state: 'power on' });
    await onWait();
    const deadline = Date.now() + c.config.num('baremetal', 'deploy_callback_timeout') * 1000;
    let lastPoll = Date.now();
    while (!(fetched.has('kernel') && fetched.has('ramdisk'))) {
      if (c.signal.aborted) throw new Error('the conductor stopped during the deploy');
      if (Date.now() > deadline) throw new Error(`the machine did not fetch its kernel and ramdisk within ${c.config.num('baremetal', 'deploy_callback_timeout')} s`);
      // The BMC is asked every 5 s whether the machine is still on: a dead BMC or a machine that went off fails now, not at the deadline.
      if (Date.now() - lastPoll >= 5000) {
        lastPoll = Date.now();
        const state = await c.power.getPower();
        if (state !== 'power on') throw new Error('the machine powered off while netbooting');
      }
      await sleep(250);
    }
    await c.step('deploy', 'the machine fetched its kernel and ramdisk: netbooted', async () => undefined);
  } finally {
    unsubscribe();
  }
}

/** After a failed deploy: nothing half-configured — no boot files, the machine off if its BMC answers. */
export async function undoDeploy(c: FlowContext): Promise<void> {
  await removeBootFiles(c.httpRoot, c.node.uuid);
  try {
    await c.power.setPower('off');
    await c.update({ power_state: 'power off' });
  } catch (err) {
    if (!(err instanceof BmcError)) throw err;
    // The BMC that failed the deploy may still not answer: the power sync records the state once it does.
  }
}

/** Carries out a power target; answers the power state read back from the BMC. */
export async function changePower(c: FlowContext, target: PowerTarget): Promise<'power on' | 'power off'> {
  const softOff = async (): Promise<void> => {
    await c.step('soft power off', 'ACPI shutdown', () => c.power.setPower('soft off'));
    const timeout = c.config.num('baremetal', 'power_state_change_timeout') * 1000;
    const until = Date.now() + timeout;
    while ((await c.power.getPower()) !== 'power off') {
      if (Date.now() > until) throw new Error(`soft power off did not complete within ${timeout / 1000} s`);
      await sleep(1000);
    }
  };
  switch (target) {
    case PowerStates.ON:
      await c.step('power on', 'power on', () => c.power.setPower('on'));
      break;
    case PowerStates.OFF:
      await c.step('power off', 'power off', () => c.power.setPower('off'));
      break;
    case PowerStates.REBOOT:
      // Ironic's ipmitool reboot: off, then on (a machine that was off is just powered on).
      if ((await c.power.getPower()) === 'power on') await c.step('power off', 'reboot: power off', () => c.power.setPower('off'));
      await c.step('power on', 'reboot: power on', () => c.power.setPower('on'));
      break;
    case PowerStates.SOFT_OFF:
      await softOff();
      break;
    case PowerStates.SOFT_REBOOT:
      await softOff();
      await c.step('power on', 'soft reboot: power on', () => c.power.setPower('on'));
      break;
  }
  return c.power.getPower();
}

/** The message a failure leaves as last_error: the step's own words, never a secret (BMC errors name none). */
export function failureMessage(action: string, err: unknown): string {
  return `${action} failed: ${errorMessage(err)}`.slice(0, 1000);
}

export { S };
