/** Power operations that take more than one virsh command: reboots and a clean shutdown. */
import { InvalidState, isDriverError, PowerState, type InstanceRef } from '@orrery/virt-api';
import { classifyVirshError } from './exec.js';
import { sleep, type LibvirtHost } from './host.js';

/** How often an unanswered ACPI request (shutdown, reboot) is sent again: guests ignore it while booting. */
const ACPI_RETRY_MS = 10_000;

export async function hardReboot(h: LibvirtHost, ref: InstanceRef): Promise<void> {
  const st = await h.status(ref);
  if (st.powerState === PowerState.SUSPENDED) {
    await h.virshOn(ref.uuid, ['managedsave-remove', h.domainName(ref.uuid)]);
  } else if (st.powerState !== PowerState.SHUTDOWN && st.powerState !== PowerState.CRASHED) {
    await h.destroyDomain(ref.uuid);
  }
  await h.start(ref.uuid);
}

/**
 * Asks the guest to reboot through ACPI (libvirt powers it down and resets it); true once
 * libvirt reports the reboot and the domain runs, false when the guest did not react within
 * wait_soft_reboot_seconds.
 */
export async function softReboot(h: LibvirtHost, uuid: string): Promise<boolean> {
  const deadline = Date.now() + h.cfg!.waitSoftRebootSeconds * 1000;
  let rebooted = false;
  const waiter = () => {
    rebooted = true;
  };
  const waiters = h.rebootWaiters.get(uuid) ?? new Set();
  waiters.add(waiter);
  h.rebootWaiters.set(uuid, waiters);
  try {
    while (!rebooted && Date.now() < deadline && !h.closed) {
      try {
        await h.virsh!.run(['reboot', '--mode', 'acpi', h.domainName(uuid)]);
      } catch (err) {
        if (isDriverError(classifyVirshError(err, uuid), 'InvalidState')) return false; // stopped meanwhile
        throw classifyVirshError(err, uuid) ?? err;
      }
      const retryAt = Math.min(deadline, Date.now() + ACPI_RETRY_MS);
      while (!rebooted && Date.now() < retryAt && !h.closed) await sleep(100);
    }
  } finally {
    waiters.delete(waiter);
    if (waiters.size === 0) h.rebootWaiters.delete(uuid);
  }
  if (!rebooted) return false;
  // libvirt resets the guest right after the reboot event; make sure it is running again.
  for (let i = 0; i < 50; i++) {
    if ((await h.status({ uuid, node: h.nodeName })).powerState === PowerState.RUNNING) return true;
    await sleep(100);
  }
  return false;
}

/** ACPI power button until the guest has shut down or `timeoutSec` passed; true when it did. */
export async function cleanShutdown(h: LibvirtHost, uuid: string, timeoutSec: number): Promise<boolean> {
  const deadline = Date.now() + timeoutSec * 1000;
  const ref = { uuid, node: h.nodeName };
  while (Date.now() < deadline) {
    try {
      await h.virsh!.run(['shutdown', '--mode', 'acpi', h.domainName(uuid)]);
    } catch (err) {
      if (!isDriverError(classifyVirshError(err, uuid), 'InvalidState')) throw classifyVirshError(err, uuid) ?? err;
    }
    const retryAt = Math.min(deadline, Date.now() + ACPI_RETRY_MS);
    while (Date.now() < retryAt) {
      if ((await h.status(ref)).powerState === PowerState.SHUTDOWN) return true;
      await sleep(250);
    }
  }
  return (await h.status(ref)).powerState === PowerState.SHUTDOWN;
}

/** An operation allowed only from `from` power states: one virsh command. */
export async function transitionOp(
  h: LibvirtHost, ref: InstanceRef, from: PowerState[], what: string, args: string[], timeoutMs?: number,
): Promise<void> {
  await h.locked(ref.uuid, async () => {
    const st = await h.status(ref);
    if (!from.includes(st.powerState)) throw new InvalidState(`instance ${ref.uuid} is ${st.state}: cannot ${what} it`);
    await h.virshOn(ref.uuid, [...args, h.domainName(ref.uuid)], timeoutMs);
  });
}
