import type { ControlPrisma, ControlTx } from './clients';
import { Databases } from './databases';

/** The control plane, as the application role: tenants, plans, shards, placements, control outbox. */
export class ControlDatabase {
  constructor(private readonly dbs: Databases) {}

  get client(): ControlPrisma {
    return this.dbs.control('app');
  }

  transaction<T>(fn: (tx: ControlTx) => Promise<T>): Promise<T> {
    return this.client.$transaction(fn, { timeout: 10_000, maxWait: 10_000 });
  }
}
