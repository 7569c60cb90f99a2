import { Inject, Injectable } from '@nestjs/common';
import { SHARD_NAME, ShardProblems, ShardRecord, ShardStatusChange } from '@hotdash/contracts';
import { ControlDatabase, type ControlTransaction } from '@hotdash/platform-db';
import { notFound, ProblemException } from '@hotdash/platform-http';
import { OpsActions, ShardsRepository } from '../../shards.repository';

/** A shard name from a path: 400 invalid-shard-name when it is not one. */
export function parseShardName(value: string): string {
  if (!SHARD_NAME.test(value)) throw new ProblemException(400, ShardProblems.INVALID_NAME, 'Invalid shard name', 'A shard name is 1 to 63 lower-case letters, digits and dashes.');
  return value;
}

/**
 * A shard's status, by the ops team: drain (the placement policy gives it no new tenant; its
 * tenants stay), activate (undo a drain), retire (only when it holds no tenant; relays and
 * migrations leave it alone; a placement on it is refused by the database). Each is idempotent: a
 * shard already there answers `changed: false`. Retired is final for drain and activate: a retired
 * shard comes back by registering it again, which checks and migrates it first.
 */
@Injectable()
export class ChangeShardStatusHandler {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(ShardsRepository) private readonly shards: ShardsRepository,
    @Inject(OpsActions) private readonly actions: OpsActions,
  ) {}

  drain(name: string, actor: string): Promise<ShardStatusChange> {
    return this.change('shard.drain', name, actor, async (tx, shard) => {
      if (shard.status === 'draining') return undefined;
      return this.shards.setStatus(tx.db, shard.id, 'draining');
    });
  }

  activate(name: string, actor: string): Promise<ShardStatusChange> {
    return this.change('shard.activate', name, actor, async (tx, shard) => {
      if (shard.status === 'active') return undefined;
      return this.shards.setStatus(tx.db, shard.id, 'active');
    });
  }

  retire(name: string, actor: string): Promise<ShardStatusChange> {
    return this.change(
      'shard.retire',
      name,
      actor,
      async (tx, shard) => {
        // Under the shard's row lock (taken by change()): a placement committed before it is counted
        // here; one committing after it is refused by the placement trigger once the shard is retired.
        const held = await this.shards.tenantsHeld(tx.db, shard.id);
        if (held > 0)
          throw new ProblemException(409, ShardProblems.NOT_EMPTY, 'Shard not empty', `Shard ${shard.name} holds ${held} tenant(s); move them to other shards (or offboard them) before retiring it. Drain it meanwhile so that it takes no new tenant.`);
        return this.shards.setStatus(tx.db, shard.id, 'retired');
      },
      true,
    );
  }

  private async change(
    action: string,
    rawName: string,
    actor: string,
    apply: (tx: ControlTransaction, shard: ShardRecord) => Promise<ShardRecord | undefined>,
    retiring = false,
  ): Promise<ShardStatusChange> {
    const name = parseShardName(rawName);
    try {
      return await this.control.withControl(async (tx) => {
        const shard = await this.shards.byName(tx.db, name, true);
        if (!shard) throw notFound(`shard ${name}`);
        let result: ShardStatusChange;
        if (shard.status === 'retired') {
          if (!retiring)
            throw new ProblemException(409, ShardProblems.RETIRED, 'Shard retired', `Shard ${name} is retired; to use it again, register it again (POST /ops/shards with its details): it is checked and migrated first.`);
          result = { shard, changed: false };
        } else {
          const changed = await apply(tx, shard);
          result = changed ? { shard: changed, changed: true } : { shard, changed: false };
        }
        await this.actions.record(tx.db, { actor, action, target: name, outcome: result.changed ? 'done' : 'unchanged', detail: { from: shard.status, to: result.shard.status } });
        return result;
      });
    } catch (err) {
      if (err instanceof ProblemException && err.status !== 404) await this.actions.record(this.control.db, { actor, action, target: name, outcome: err.code, detail: { reason: err.detail } });
      throw err;
    }
  }
}
