import type { Kysely } from 'kysely';
import type { ControlPrisma, ControlTx } from './clients';
import type { ControlTransaction, WithControlOptions } from './control-transaction';
import { Databases } from './databases';
import type { ControlDB } from './generated/kysely/control';

/**
 * The control plane, as the application role: tenants, plans, shards, placements, control outbox.
 * `db` and `withControl` are the typed layer on the driver (hot paths and new code); `client` and
 * `transaction` are Prisma Client, kept where it reads best on cold paths (provisioning records,
 * ops lookups).
 */
export class ControlDatabase {
  constructor(private readonly dbs: Databases) {}

  /** Kysely on the control pool: one statement at a time, each its own transaction. */
  get db(): Kysely<ControlDB> {
    return this.dbs.controlDb('app');
  }

  /** A control-plane transaction on the driver (Databases.withControl). */
  withControl<T>(fn: (tx: ControlTransaction) => Promise<T>, options: WithControlOptions = {}): Promise<T> {
    return this.dbs.withControl(fn, options);
  }

  get client(): ControlPrisma {
    return this.dbs.control('app');
  }

  /** Prisma Client's interactive transaction, for the cold paths that read best in it. */
  transaction<T>(fn: (tx: ControlTx) => Promise<T>): Promise<T> {
    return this.client.$transaction(fn, { timeout: 10_000, maxWait: 10_000 });
  }
}
