import { sql } from 'kysely';
import { parseSettings } from '@hotdash/platform-config';
import { type Databases, type DbLocation, type ShardRouter, withShardTransaction } from '@hotdash/platform-db';
import { Metrics } from '@hotdash/platform-http';
import { PeriodicTask } from '@hotdash/platform-jobs';

const DAY_MS = 86_400_000;
/**
 * A batch's transaction may run this long. The old rows are found through BRIN indexes, whose page
 * ranges only widen as pruned pages are reused: on a large table a sweep's last batch (the one that
 * finds fewer rows than a batch) may read most of the table.
 */
const SWEEP_TX_TIMEOUT_MS = 120_000;

export interface DeliveredRetentionOptions {
  /** Milliseconds between two sweeps (HOTDASH_RETENTION_SWEEP_MS, default an hour); 0: this process does not sweep (`off`). */
  intervalMs: number;
  /** From start to the first sweep (default a minute: not in the start-up's rush). */
  firstRunMs: number;
  /** A published event stays in its outbox this long (HOTDASH_OUTBOX_RETENTION_DAYS, default 7 days). */
  outboxMs: number;
  /** An applied event's id stays in its consumer's inbox this long (HOTDASH_INBOX_RETENTION_DAYS, default 14 days). */
  inboxMs: number;
  /** A sent message stays in its mail outbox this long (HOTDASH_MAIL_RETENTION_DAYS, default 30 days). */
  mailMs: number;
  /** Rows deleted per table and statement (at most 10,000): each call is a short transaction. */
  batch: number;
}

export function deliveredRetentionOptions(env: NodeJS.ProcessEnv = process.env): DeliveredRetentionOptions {
  const s = parseSettings(env);
  return {
    intervalMs: s.HOTDASH_RETENTION_SWEEP_MS,
    firstRunMs: 60_000,
    outboxMs: s.HOTDASH_OUTBOX_RETENTION_DAYS * DAY_MS,
    inboxMs: s.HOTDASH_INBOX_RETENTION_DAYS * DAY_MS,
    mailMs: s.HOTDASH_MAIL_RETENTION_DAYS * DAY_MS,
    batch: 5_000,
  };
}

/** What one database's sweep deleted, and why it deleted nothing when it was held. */
export interface RetentionResult {
  database: string;
  outbox: number;
  inbox: number;
  mail: number;
  /** Set when the shard was left alone this time: a tenant move publishes from it (the publication's name). */
  heldBy?: string;
}

/**
 * Deletes what the platform delivered longer ago than its retention (docs/operations.md, "Retention
 * of delivered events and mail"): the published rows of the control database's outbox and of every
 * shard's, the shards' inbox rows (the ids of events a consumer applied) and their sent mail. Rows
 * still to deliver, and rows set aside as undeliverable, stay. The deleting is the databases' own
 * (prune_delivered, one function per database: prisma/…/20261221090000_delivered_retention), called
 * as the relay role in batches until a call deletes less than a batch: short transactions, the old
 * rows found through BRIN indexes on the delivery times. A shard a tenant move publishes from is
 * left alone until the move ends, and a fenced tenant's rows (moved away, or moving in) stay.
 */
export class DeliveredRetention {
  private readonly task: PeriodicTask;

  constructor(
    private readonly dbs: Databases,
    private readonly router: ShardRouter,
    readonly options: DeliveredRetentionOptions = deliveredRetentionOptions(),
    private readonly log: (message: string) => void = (m) => console.log(`[retention] ${m}`),
  ) {
    this.task = new PeriodicTask(
      () => this.runOnce(),
      (err) => this.log(`sweep failed: ${err.message}`),
    );
  }

  start(): void {
    if (this.options.intervalMs === 0) {
      this.log('retention sweep off (HOTDASH_RETENTION_SWEEP_MS=off): another process of the deployment must sweep, or the outboxes and inboxes grow without end');
      return;
    }
    this.task.start(this.options.firstRunMs, this.options.intervalMs);
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One sweep: the control database, then every shard not retired; a database that fails is reported and the others still swept. */
  async runOnce(): Promise<RetentionResult[]> {
    const results: RetentionResult[] = [];
    const sweep = async (database: string, fn: () => Promise<RetentionResult>) => {
      try {
        const r = await fn();
        results.push(r);
        for (const store of ['outbox', 'inbox', 'mail'] as const) Metrics.retentionDeleted(database, store, r[store]);
        if (r.heldBy) this.log(`${database}: nothing deleted while tenant move ${r.heldBy} publishes from it`);
        else if (r.outbox + r.inbox + r.mail > 0) this.log(`${database}: deleted ${r.outbox} published event(s), ${r.inbox} inbox entr${r.inbox === 1 ? 'y' : 'ies'} and ${r.mail} sent message(s) past their retention`);
      } catch (err) {
        this.log(`${database}: sweep failed (the next sweep tries again): ${(err as Error).message}`);
      }
    };
    await sweep('control', () => this.sweepControl());
    for (const shard of await this.router.listShards()) {
      if (this.task.stopped) break;
      if (shard.status !== 'retired') await sweep(shard.name, () => this.sweepShard(shard.name, shard));
    }
    return results;
  }

  /** The control database's outbox. */
  async sweepControl(): Promise<RetentionResult> {
    const outbox = `${this.options.outboxMs} milliseconds`;
    const batch = this.batch();
    let deleted = 0;
    for (;;) {
      const n = await this.dbs.withControl(async (tx) => Number((await sql<{ n: string }>`select prune_delivered(${outbox}::interval, ${batch}::int) as n`.execute(tx.db)).rows[0]!.n), { role: 'relay', timeoutMs: SWEEP_TX_TIMEOUT_MS });
      deleted += n;
      if (n < batch || this.task.stopped) break;
    }
    return { database: 'control', outbox: deleted, inbox: 0, mail: 0 };
  }

  /** One shard's outbox, inbox and mail outbox. */
  async sweepShard(name: string, shard: DbLocation): Promise<RetentionResult> {
    const o = this.options;
    const batch = this.batch();
    const result: RetentionResult = { database: name, outbox: 0, inbox: 0, mail: 0 };
    for (;;) {
      const r = await withShardTransaction(this.dbs, shard, async (tx) => {
        const { rows } = await sql<{ outbox_rows: string; inbox_rows: string; mail_rows: string; held_by: string | null }>`
          select outbox_rows, inbox_rows, mail_rows, held_by
          from prune_delivered(${`${o.outboxMs} milliseconds`}::interval, ${`${o.inboxMs} milliseconds`}::interval, ${`${o.mailMs} milliseconds`}::interval, ${batch}::int)`.execute(tx.db);
        return rows[0]!;
      }, { timeoutMs: SWEEP_TX_TIMEOUT_MS });
      if (r.held_by) return { ...result, heldBy: r.held_by };
      const counts = [Number(r.outbox_rows), Number(r.inbox_rows), Number(r.mail_rows)] as const;
      result.outbox += counts[0];
      result.inbox += counts[1];
      result.mail += counts[2];
      if (counts.every((n) => n < batch) || this.task.stopped) return result;
    }
  }

  private batch(): number {
    return Math.min(Math.max(Math.floor(this.options.batch), 1), 10_000);
  }
}
