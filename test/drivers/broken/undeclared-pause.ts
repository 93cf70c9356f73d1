// Declares pause: false but never checks its own declaration, so pause() succeeds.
import type { DriverMethod } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class UndeclaredPauseDriver extends MemoryDriver {
  constructor() {
    super();
    this.caps = { ...this.caps, pause: false };
  }
  protected override gate(_method: DriverMethod): void {}
}
