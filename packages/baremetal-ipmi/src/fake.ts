import type { BootDevice, PowerAction, PowerInterface, PowerState } from './power.js';

/**
 * Ironic's `fake-hardware`: no machine behind it; power and boot device are what was last set.
 * It starts from the state the caller recorded (the node's power_state), so every conductor
 * building one for a node agrees with the others.
 */
export class FakePower implements PowerInterface {
  private power: PowerState;
  bootDevice: BootDevice | null = null;

  constructor(initial: PowerState | null = 'power off') {
    this.power = initial ?? 'power off';
  }

  async getPower(): Promise<PowerState> {
    return this.power;
  }

  async setPower(action: PowerAction): Promise<void> {
    this.power = action === 'off' || action === 'soft off' ? 'power off' : 'power on';
  }

  async setBootDevice(device: BootDevice, _persistent: boolean): Promise<void> {
    this.bootDevice = device;
  }
}
