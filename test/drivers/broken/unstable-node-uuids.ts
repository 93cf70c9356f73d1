// Makes up new node UUIDs on every listNodes(): the scheduler would see new nodes each time.
import { randomUUID } from 'node:crypto';
import type { NodeInfo } from '@orrery/virt-api';
import { MemoryDriver } from '../memory-driver.js';

export class UnstableNodeUuidsDriver extends MemoryDriver {
  override async listNodes(): Promise<NodeInfo[]> {
    return (await super.listNodes()).map((n) => ({ ...n, uuid: randomUUID() }));
  }
}
