import { Client } from 'pg';
import type { DbRoleCredentials, PlatformConfig } from '@hotdash/platform-config';
import type { TenantId } from '@hotdash/contracts';
import type { DbLocation, ShardInfo } from './databases';
import { SHARD_BOOKKEEPING_TABLES } from './tenant-tables';

/**
 * A live tenant move's work on the databases (docs/tenant-move.md): each method is one step of the
 * move, idempotent by name or by state, so the saga that drives it (provisioning's tenant-move saga)
 * can run any of them again after a crash. Logical replication copies the tenant's rows and catches
 * up (one publication per move, every table row-filtered on the tenant); the queues (outbox,
 * mail_outbox) are moved by the mover itself; the cut-over pauses the tenant alone (the gate's
 * advisory lock, taken exclusively), proves catch-up with a marker, decides with the source's fence
 * and opens the target.
 *
 * Connections are the mover's own, short-lived, one per piece of work: the owner (in the tenant's
 * row-level-security context: the forced policies bind it too, so it touches the tenant's rows
 * only), the mover role (REPLICATION: the slot, and the subscription's connection to the source) and
 * the subscriber role (PostgreSQL 15 wants a superuser to create a subscription) on the target.
 * A source that is no shard of this platform (a pilot import's: docs/pilot.md) carries its own
 * role (`credentials`), used for every connection to it instead of the owner and mover roles and in
 * the subscription's connection string: the platform's own passwords never reach such a server.
 */

/** The queues: their pending rows are work for shard-wide workers, so the mover moves them itself (never replicated). */
export const MOVE_QUEUES = ['outbox', 'mail_outbox'] as const;
type Queue = (typeof MOVE_QUEUES)[number];
/** A queue row's "finished" column (published, sent). */
const FINISHED: Record<Queue, string> = { outbox: 'published_at', mail_outbox: 'sent_at' };
/** Columns a move may change and verification leaves out: the target's own outbox seq, the queues' delivery state. */
const MOVED_COLUMNS: Record<string, readonly string[]> = { outbox: ['seq', 'published_at', 'failed_at', 'last_error'], mail_outbox: ['sent_at', 'failed_at', 'last_error'] };
/** The gate's pause lock (tenant_gate): (72011260, hashtext(tenant)). */
const PAUSE_LOCK_CLASS = 72011260;
/** The outbox relay's drain lock (libs/platform/messaging relay.ts): a relay mid-batch finishes before the queues move. */
const RELAY_DRAIN_LOCK = 7201126002;
/** The retention sweep's lock (prisma/tenant/migrations/20261221090000_delivered_retention): taken while a move's publication is created. */
const RETENTION_LOCK = 7201126003;
/** Rows per statement when the tenant's rows are deleted (short transactions, children first). */
const DELETE_BATCH = 5_000;
/** Queue rows per page of the history copy. */
const QUEUE_PAGE = 2_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A database the mover connects to. `credentials`: a role of its own, used for every connection to
 * it (in place of the configuration's owner and mover roles; in the subscription's connection string
 * when it is a move's source). Only a source that is no shard of this platform has them (a pilot
 * import's); the role needs what the owner and mover roles give: docs/pilot.md, "The import role".
 */
export type MoverLocation = DbLocation & { credentials?: DbRoleCredentials };

/** The move: its id, the tenant, where from and where to (a source may carry its own role: {@link MoverLocation}). */
export interface TenantMove {
  moveId: string;
  tenantId: TenantId;
  source: ShardInfo & { credentials?: DbRoleCredentials };
  target: ShardInfo;
  /**
   * A pilot import's replay (docs/pilot.md, "Work in flight at the cut-over"): outbox rows the source
   * published within this many milliseconds before the cut-over went to the source's own Kafka, where
   * the platform's consumers never saw them; the cut-over moves them as pending (held, released with the
   * target's opening) so the target's relay publishes them again, under the same event ids. Consumers
   * skip what their inbox, carried with the tenant, says they applied. Absent or 0: a move between
   * shards of one platform (one Kafka), nothing replayed.
   */
  replayPublishedWithinMs?: number;
}

/**
 * Why a move cannot go on. `retryable`: later may work (a pause refused, a server unreachable);
 * otherwise the move must be undone (before its decision) or looked at (after it).
 */
export class TenantMoveError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'TenantMoveError';
  }
}

/** The queue rows copied by a history pass, and the horizon the next pass starts from. */
export interface QueuePass {
  /** pg_snapshot_xmin when the pass began: every transaction older had ended; rows written or changed later carry a newer xmin. */
  horizon: string;
  copied: Record<Queue, number>;
}

/** Per table: `<rows>/<sum of row hashes>`. */
export type TableSums = Record<string, string>;

export interface CutOverResult {
  /** Attempts it took to pause the tenant (each refused one changed nothing). */
  attempt: number;
  /** From the lock taken to the target open: how long the tenant's transactions waited at most. */
  pauseMs: number;
  lockMs: number;
  markerMs: number;
  queuesMs: number;
  decidedAtMs: number;
  /** When the decision committed (the source refuses the tenant from then on). */
  decidedAt: string;
  queues: Record<Queue, { moved: number; pending: number }>;
  /** Outbox rows the source had published within the replay window, to be published again by the target's relay (TenantMove.replayPublishedWithinMs). */
  replayed: number;
  placementVersion: number;
}

export interface TenantMoverOptions {
  /** How long the mover waits for the tenant's running transactions when it pauses it (default 300 ms); refused beyond, retried later. */
  pauseLockTimeoutMs?: number;
  /** How long a marker may take to reach the target inside a pause (default 5 s): beyond, the pause is given up and retried. */
  pauseMarkerBudgetMs?: number;
  /** Connect timeout of the mover's connections (default 5 s). */
  connectTimeoutMs?: number;
}

type Who = 'owner' | 'mover' | 'subscriber';

/** Snapshots of a target taken inside a cut-over's pause, for the verification after it (lost when the process stops). */
const cutOverSnapshots = new Map<string, { client: Client; timer: NodeJS.Timeout }>();

export class TenantMover {
  private readonly pauseLockTimeoutMs: number;
  private readonly pauseMarkerBudgetMs: number;
  private readonly connectTimeoutMs: number;

  constructor(
    private readonly config: PlatformConfig,
    options: TenantMoverOptions = {},
  ) {
    this.pauseLockTimeoutMs = options.pauseLockTimeoutMs ?? 300;
    this.pauseMarkerBudgetMs = options.pauseMarkerBudgetMs ?? 5_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  /** The move's publication, slot and subscription name. */
  static replicationName(moveId: string): string {
    if (!UUID.test(moveId)) throw new Error(`not a move id: ${moveId}`);
    return `tmove_${moveId.replace(/-/g, '')}`;
  }

  // ---------------------------------------------------------------------------------- preflight

  /**
   * What the move needs of the two servers, checked before it starts: the source decodes logical
   * replication, both carry the same migrations, the mover and subscriber roles can connect, the
   * target holds none of the tenant's rows. Returns the problems (none: the move can start).
   */
  async preflight(m: Pick<TenantMove, 'tenantId' | 'source' | 'target'>): Promise<{ code: string; message: string }[]> {
    const problems: { code: string; message: string }[] = [];
    const settings = await this.as(m.source, 'owner', (c) => c.query<{ wal_level: string; slots: string }>(`select current_setting('wal_level') as wal_level, current_setting('max_replication_slots') as slots`));
    if (settings.rows[0]!.wal_level !== 'logical')
      problems.push({ code: 'replication-unavailable', message: `shard ${m.source.name} runs with wal_level=${settings.rows[0]!.wal_level}: a move needs wal_level=logical (a restart of its server; deploy/local/infra.sh sets it)` });
    const [from, to] = await Promise.all([this.appliedMigrations(m.source), this.appliedMigrations(m.target)]);
    const missing = from.filter((x) => !to.includes(x));
    const extra = to.filter((x) => !from.includes(x));
    if (missing.length || extra.length)
      problems.push({
        code: 'schema-differs',
        message: `shards ${m.source.name} and ${m.target.name} are at different schema versions (${missing.length ? `${m.target.name} lacks ${missing.slice(0, 3).join(', ')}` : `${m.source.name} lacks ${extra.slice(0, 3).join(', ')}`}): migrate both first (\`hotdash-ops migrations run\`)`,
      });
    for (const [where, who] of [[m.source, 'mover'], [m.target, 'subscriber']] as const) {
      try {
        await this.as(where, who, async () => undefined);
      } catch (err) {
        problems.push({ code: 'mover-role-unavailable', message: `the ${who} role (${this.credentialsFor(where, who).user}) cannot connect to shard ${where.name}: ${(err as Error).message}` });
      }
    }
    if (!problems.length) {
      const held = await this.tenantRowsOn(m.target, m.tenantId);
      if (held.length) problems.push({ code: 'target-holds-rows', message: `shard ${m.target.name} already holds rows of tenant ${m.tenantId} (${held.slice(0, 3).join(', ')}): erase them there first` });
      const identity = await this.tablesWithoutIdentity(m.source);
      if (identity.length) problems.push({ code: 'replica-identity-missing', message: `tables ${identity.join(', ')} of shard ${m.source.name} have no replica identity holding tenant_id: a move would break their updates (fix the schema: enable_tenant_rls sets it)` });
    }
    return problems;
  }

  /** The tenant's tables (not the bookkeeping) that hold rows of it on a shard. */
  async tenantRowsOn(shard: MoverLocation, tenantId: TenantId): Promise<string[]> {
    return this.asTenant(shard, tenantId, async (c) => {
      const found: string[] = [];
      for (const t of await tenantTableNames(c)) if ((await c.query(`select 1 from ${ident(c, t)} where tenant_id = $1 limit 1`, [tenantId])).rowCount) found.push(t);
      return found;
    });
  }

  /** The tenant's rows on a shard per tenant table that has any (the bookkeeping aside), by table name: what a move or an import would carry. */
  async tenantRowCounts(shard: MoverLocation, tenantId: TenantId): Promise<{ table: string; rows: number }[]> {
    return this.asTenant(shard, tenantId, async (c) => {
      const counts: { table: string; rows: number }[] = [];
      for (const t of await tenantTableNames(c)) {
        const n = Number((await c.query<{ n: string }>(`select count(*)::text as n from ${ident(c, t)} where tenant_id = $1`, [tenantId])).rows[0]!.n);
        if (n > 0) counts.push({ table: t, rows: n });
      }
      return counts;
    });
  }

  // --------------------------------------------------------------------------------- the steps

  /**
   * Step fence-target: a `moving-in` fence for the tenant on the target (it refuses the tenant until
   * the cut-over opens it), after checking the target holds none of its rows. A tombstone left by an
   * earlier move away from this shard is replaced; another move's fence is refused.
   */
  async fenceTarget(m: TenantMove): Promise<void> {
    await this.asTenant(m.target, m.tenantId, async (c) => {
      const mine = await c.query('select 1 from tenant_fences where tenant_id = $1 and move_id = $2 and moved_to_shard is null', [m.tenantId, m.moveId]);
      if (mine.rowCount) return;
      for (const t of await tenantTableNames(c))
        if ((await c.query(`select 1 from ${ident(c, t)} where tenant_id = $1 limit 1`, [m.tenantId])).rowCount)
          throw new TenantMoveError(`shard ${m.target.name} already holds rows of tenant ${m.tenantId} in ${t}`, 'target-holds-rows', false);
      const r = await c.query(
        `insert into tenant_fences (tenant_id, move_id) values ($1, $2)
         on conflict (tenant_id) do update set move_id = excluded.move_id, moved_to_shard = null, placement_version = null, fenced_at = now()
         where tenant_fences.moved_to_shard is not null
         returning move_id`,
        [m.tenantId, m.moveId],
      );
      if (!r.rowCount) throw new TenantMoveError(`another move of tenant ${m.tenantId} is copying it onto shard ${m.target.name}`, 'move-in-progress', false);
    });
  }

  /** Step publish: the move's publication on the source, every tenant table but the queues (and with the markers), row-filtered on the tenant. */
  async publish(m: TenantMove): Promise<{ tables: number }> {
    const name = TenantMover.replicationName(m.moveId);
    return this.as(m.source, 'owner', async (c) => {
      const tables = [...(await tenantTableNames(c)).filter((t) => !(MOVE_QUEUES as readonly string[]).includes(t)), 'tenant_move_markers'];
      const exists = await c.query('select 1 from pg_publication where pubname = $1', [name]);
      if (!exists.rowCount) {
        // A publication's row filter takes no parameters: the tenant id, a validated UUID, as a quoted literal.
        const tenant = c.escapeLiteral(uuidOf(m.tenantId));
        // Under the retention lock, exclusively: the shard's retention sweep (prune_delivered) takes it
        // shared and deletes nothing while a move publishes, so one that began before ends first.
        await c.query('begin');
        try {
          await c.query('select pg_advisory_xact_lock($1)', [RETENTION_LOCK]);
          await c.query(`create publication ${ident(c, name)} for table ${tables.map((t) => `${ident(c, t)} where (tenant_id = ${tenant}::uuid)`).join(', ')}`);
          await c.query('commit');
        } catch (err) {
          await c.query('rollback').catch(() => undefined);
          throw err;
        }
      }
      return { tables: tables.length };
    });
  }

  /**
   * Step slot: the move's logical replication slot on the source, made here rather than by the
   * subscription (on the same server, CREATE SUBSCRIPTION would wait for its own transaction). Waits
   * for every transaction running on the source's server at that instant (a consistent snapshot).
   */
  async createSlot(m: TenantMove): Promise<{ created: boolean }> {
    const name = TenantMover.replicationName(m.moveId);
    return this.as(m.source, 'mover', async (c) => {
      if ((await c.query('select 1 from pg_replication_slots where slot_name = $1', [name])).rowCount) return { created: false };
      await c.query(`set statement_timeout = '60s'`);
      await c.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
      return { created: true };
    });
  }

  /**
   * Step subscribe: the subscription on the target (as the subscriber role), over the source's slot,
   * copying the tenant's rows and then streaming its changes; connects to the source as the mover
   * role, or as the source's own role when it has one (its password then sits in pg_subscription on
   * the target, readable by superusers only, until drop-replication). That connection works in the
   * tenant's context (app.tenant_id): a role without BYPASSRLS copies the tenant's rows under the
   * forced policies. Returns the subscription's oid (its table-sync slots on the source are named after it).
   */
  async subscribe(m: TenantMove): Promise<{ subscriptionOid: string }> {
    const name = TenantMover.replicationName(m.moveId);
    const source = this.credentialsFor(m.source, 'mover');
    return this.as(m.target, 'subscriber', async (c) => {
      const found = await c.query<{ oid: string }>('select oid::text as oid from pg_subscription where subname = $1', [name]);
      if (found.rowCount) return { subscriptionOid: found.rows[0]!.oid };
      const conninfo = [
        `host=${m.source.host}`,
        `port=${m.source.port}`,
        `dbname=${m.source.database}`,
        `user=${source.user}`,
        `password=${source.password}`,
        `options=-c app.tenant_id=${uuidOf(m.tenantId)}`,
        'application_name=hotdash-move',
      ]
        .map((kv) => kv.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/=(.*)$/, "='$1'"))
        .join(' ');
      await c.query(
        `create subscription ${ident(c, name)} connection ${c.escapeLiteral(conninfo)} publication ${ident(c, name)}
         with (create_slot = false, slot_name = ${c.escapeLiteral(name)}, copy_data = true, enabled = true)`,
      );
      const created = await c.query<{ oid: string }>('select oid::text as oid from pg_subscription where subname = $1', [name]);
      return { subscriptionOid: created.rows[0]!.oid };
    });
  }

  /**
   * The initial copy's progress: tables per sync state (`r` ready: copied and streaming), and the
   * subscription's apply and sync errors (the target's log says which).
   */
  async copyState(m: TenantMove): Promise<{ tables: number; ready: number; errors: number }> {
    const name = TenantMover.replicationName(m.moveId);
    return this.as(m.target, 'subscriber', async (c) => {
      const states = await c.query<{ srsubstate: string; n: number }>(
        'select srsubstate, count(*)::int as n from pg_subscription_rel where srsubid = (select oid from pg_subscription where subname = $1) group by 1',
        [name],
      );
      const errors = await c.query<{ n: number }>('select coalesce(apply_error_count + sync_error_count, 0)::int as n from pg_stat_subscription_stats where subname = $1', [name]);
      return { tables: states.rows.reduce((n, r) => n + r.n, 0), ready: states.rows.find((r) => r.srsubstate === 'r')?.n ?? 0, errors: errors.rows[0]?.n ?? 0 };
    });
  }

  /** Waits until every table is copied and streaming; a subscription error fails the move (its apply would retry for ever). */
  async waitForCopy(m: TenantMove, timeoutMs: number, onProgress?: (ready: number, tables: number) => void): Promise<{ tables: number }> {
    const deadline = Date.now() + timeoutMs;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      const s = await this.copyState(m);
      onProgress?.(s.ready, s.tables);
      if (s.errors > 0) throw new TenantMoveError(`the subscription on shard ${m.target.name} reports ${s.errors} apply or sync error(s); see its server log`, 'replication-failed', false);
      if (s.tables > 0 && s.ready === s.tables) return { tables: s.tables };
      if (Date.now() > deadline) throw new TenantMoveError(`the initial copy onto shard ${m.target.name} is not done after ${timeoutMs} ms (${s.ready}/${s.tables} tables)`, 'copy-timeout', true);
      await sleep(wait);
    }
  }

  /**
   * A history pass over the queues: their finished rows (published, sent or set aside) copied to the
   * target in pages, `on conflict do nothing` (the outbox in seq order, the target's own seq). Pending
   * rows stay: the cut-over moves them. Returns the pass's horizon for the next pass and the cut-over.
   */
  async copyQueueHistory(m: TenantMove): Promise<QueuePass> {
    return this.asTenant(m.source, m.tenantId, (src) =>
      this.asTenant(m.target, m.tenantId, async (tgt) => {
        const horizon = (await src.query<{ x: string }>('select pg_snapshot_xmin(pg_current_snapshot())::text as x')).rows[0]!.x;
        const copied = { outbox: 0, mail_outbox: 0 } as Record<Queue, number>;
        for (const q of MOVE_QUEUES) {
          const cols = (await columnNames(src, q)).filter((x) => x !== 'seq');
          const list = cols.map((x) => ident(src, x)).join(', ');
          const key = q === 'outbox' ? 'seq' : 'created_at, id';
          let after: unknown[] | undefined;
          for (;;) {
            // The rows as the database's own JSON text: through JS values a timestamptz would lose its microseconds.
            const cond = after ? (q === 'outbox' ? 'and seq > $2::bigint' : 'and (created_at, id) > ($2::timestamptz, $3::uuid)') : '';
            const page = await src.query<{ j: string | null }>(
              `select json_agg(x order by ${key.split(', ').map((k) => `x.${k}`).join(', ')})::text as j
               from (select * from ${q} where tenant_id = $1 ${cond} order by ${key} limit ${QUEUE_PAGE}) x`,
              [m.tenantId, ...(after ?? [])],
            );
            const json = page.rows[0]!.j;
            if (!json) break;
            const rows = JSON.parse(json) as { seq?: number; created_at: string; id: string }[];
            const last = rows[rows.length - 1]!;
            after = q === 'outbox' ? [String(last.seq)] : [last.created_at, last.id];
            const r = await tgt.query(
              `insert into ${q} (${list}) select ${list} from json_populate_recordset(null::${q}, $1) r
               where r.${FINISHED[q]} is not null or r.failed_at is not null ${q === 'outbox' ? 'order by r.seq' : ''}
               on conflict (id) do nothing`,
              [json],
            );
            copied[q] += r.rowCount ?? 0;
            if (rows.length < QUEUE_PAGE) break;
          }
        }
        return { horizon, copied };
      }),
    );
  }

  /**
   * A catch-up marker: n+1 written on the source, awaited on the target. Without a pause it measures
   * the lag; inside one it proves every earlier commit of the tenant applied. Milliseconds, or -1 past the budget.
   */
  async markerRoundTrip(m: TenantMove, budgetMs: number, writer?: Client): Promise<number> {
    const t0 = Date.now();
    const write = async (c: Client) =>
      Number(
        (
          await c.query<{ n: string }>(
            `insert into tenant_move_markers (tenant_id, move_id, n) values ($1, $2, 1)
             on conflict (tenant_id, move_id) do update set n = tenant_move_markers.n + 1, at = now() returning n::text as n`,
            [m.tenantId, m.moveId],
          )
        ).rows[0]!.n,
      );
    const n = writer ? await write(writer) : await this.asTenant(m.source, m.tenantId, write);
    return this.asTenant(m.target, m.tenantId, async (tgt) => {
      for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
        const r = await tgt.query<{ n: string }>('select n::text as n from tenant_move_markers where tenant_id = $1 and move_id = $2', [m.tenantId, m.moveId]);
        if (r.rows[0] && Number(r.rows[0].n) >= n) return Date.now() - t0;
        if (Date.now() - t0 > budgetMs) return -1;
        await sleep(wait);
      }
    });
  }

  /** Waits until markers come back within `lagMs` (the target keeps up), at most `timeoutMs`. Returns the last round trip. */
  async catchUp(m: TenantMove, lagMs: number, timeoutMs: number): Promise<{ markerMs: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ms = await this.markerRoundTrip(m, Math.max(lagMs * 20, 2_000));
      if (ms >= 0 && ms <= lagMs) return { markerMs: ms };
      if (Date.now() > deadline) throw new TenantMoveError(`shard ${m.target.name} does not catch up with ${m.source.name} (last marker ${ms < 0 ? 'lost' : `${ms} ms`})`, 'catch-up-timeout', true);
    }
  }

  /**
   * Verification before the cut-over: a short pause gives both copies one state (the marker, then a
   * repeatable-read snapshot on each side, then the pause ends), and the tables' counts and sums are
   * compared on those snapshots while the tenant works on. A difference fails the move (not retryable).
   */
  async verify(m: TenantMove): Promise<{ tables: number; rows: number; pauseMs: number }> {
    const t0 = Date.now();
    const snapshots = await this.withPause(m, async (pause) => {
      const markerMs = await this.markerRoundTrip(m, this.pauseMarkerBudgetMs, pause.writer);
      if (markerMs < 0) throw new TenantMoveError(`the marker did not reach shard ${m.target.name} within ${this.pauseMarkerBudgetMs} ms inside the pause`, 'catch-up-timeout', true);
      const s = await this.snapshot(m.source, m.tenantId);
      const t = await this.snapshot(m.target, m.tenantId).catch(async (err: unknown) => {
        await s.end().catch(() => undefined);
        throw err;
      });
      await pause.release();
      return [s, t] as const;
    });
    if (snapshots === 'refused') throw new TenantMoveError(`tenant ${m.tenantId} could not be paused for verification (its transactions ran longer than ${this.pauseLockTimeoutMs} ms)`, 'pause-refused', true);
    const pauseMs = Date.now() - t0;
    const [source, target] = snapshots;
    try {
      const tables = (await tenantTableNames(source)).filter((t) => !(MOVE_QUEUES as readonly string[]).includes(t));
      const [a, b] = await Promise.all([tableSums(source, m.tenantId, tables), tableSums(target, m.tenantId, tables)]);
      const differ = tables.filter((t) => a[t] !== b[t]);
      if (differ.length) throw new TenantMoveError(`the copies differ before the cut-over: ${differ.map((t) => `${t} ${a[t]} vs ${b[t]}`).join('; ')}`, 'verification-failed', false);
      return { tables: tables.length, rows: Object.values(a).reduce((n, x) => n + Number(x.split('/')[0]), 0), pauseMs };
    } finally {
      await Promise.all([source.end(), target.end()].map((p) => p.catch(() => undefined)));
    }
  }

  /** Whether the move's decision was taken: the source holds its fence (the decision record). */
  async decided(m: TenantMove): Promise<boolean> {
    return this.asTenant(m.source, m.tenantId, async (c) => Boolean((await c.query('select 1 from tenant_fences where tenant_id = $1 and move_id = $2', [m.tenantId, m.moveId])).rowCount));
  }

  /**
   * The cut-over, one attempt: pause the tenant on the source (refused past the lock timeout:
   * 'refused', nothing changed), marker, the queues' remainder (copied to the target held, the
   * source's pending rows set aside), a snapshot of the target for the verification after, then the
   * decision (the source's fence, one commit with the set-aside), then the target opened and the
   * placement moved (`movePlacement`: the caller's, in the control database). A failure
   * before the decision leaves the source as it was (its pending queue rows included).
   */
  async cutOver(
    m: TenantMove,
    horizon: string,
    placementVersion: number,
    movePlacement: () => Promise<void>,
    /** Test seam (the crash drills): called inside the pause once the marker arrived (`paused`), once the queues moved (`queues-moved`), and after the decision (`decided`). */
    at: (point: 'paused' | 'queues-moved' | 'decided') => void | Promise<void> = () => undefined,
  ): Promise<Omit<CutOverResult, 'attempt'> | 'refused'> {
    const t0 = Date.now();
    const held = `moving-in:${m.moveId}`;
    const result = await this.withPause(m, async (pause) => {
      const tLock = Date.now() - t0;
      const markerMs = await this.markerRoundTrip(m, this.pauseMarkerBudgetMs, pause.writer);
      if (markerMs < 0) throw new TenantMoveError(`the marker did not reach shard ${m.target.name} within ${this.pauseMarkerBudgetMs} ms inside the pause`, 'catch-up-timeout', true);
      await at('paused');
      const L = pause.holder;
      await L.query('select pg_advisory_xact_lock($1)', [RELAY_DRAIN_LOCK]);
      const queues = {} as CutOverResult['queues'];
      let replayed = 0;
      await this.asTenant(m.target, m.tenantId, async (tgt) => {
        for (const q of MOVE_QUEUES) {
          const done = FINISHED[q];
          const order = q === 'outbox' ? 'order by seq' : 'order by created_at, id';
          const rows = await L.query<{ j: string | null }>(
            `with r as (select * from ${q} where tenant_id = $1 and (age(xmin) <= age(($2::bigint % 4294967296)::text::xid) or (${done} is null and failed_at is null)) ${order} for update)
             select json_agg(r ${order.replace('order by ', 'order by r.')})::text as j from r`,
            [m.tenantId, horizon],
          );
          const cols = (await columnNames(L, q)).filter((x) => x !== 'seq');
          const list = cols.map((x) => ident(L, x)).join(', ');
          // Pending rows arrive held (set aside as moving-in, so the target's relay skips them); a held
          // copy of an earlier attempt takes the source's state now.
          const moved = await tgt.query<{ held: boolean }>(
            `insert into ${q} as t (${list})
             select ${cols.map((x) => (x === 'failed_at' ? `case when r.${done} is null and r.failed_at is null then now() else r.failed_at end` : x === 'last_error' ? `case when r.${done} is null and r.failed_at is null then $2 else r.last_error end` : `r.${x}`)).join(', ')}
             from json_populate_recordset(null::${q}, $1) r ${q === 'outbox' ? 'order by r.seq' : ''}
             on conflict (id) do update set ${done} = excluded.${done}, failed_at = excluded.failed_at, last_error = excluded.last_error where t.last_error = $2
             returning t.last_error = $2 as held`,
            [rows.rows[0]!.j ?? '[]', held],
          );
          queues[q] = { moved: moved.rowCount ?? 0, pending: moved.rows.filter((r) => r.held).length };
          await L.query(`update ${q} set failed_at = now(), last_error = $2 where tenant_id = $1 and ${done} is null and failed_at is null`, [m.tenantId, `moving:${m.moveId}`]);
        }
        // A pilot's recent events, published to its own Kafka only: pending again on the target, held
        // with the rest (a retried cut-over finds them held already; its insert above leaves held rows
        // it did not select alone).
        if (m.replayPublishedWithinMs && m.replayPublishedWithinMs > 0) {
          const events: Queue = 'outbox';
          const r = await tgt.query(
            `update ${events} set ${FINISHED[events]} = null, failed_at = now(), last_error = $2
             where tenant_id = $1 and ${FINISHED[events]} is not null and ${FINISHED[events]} >= now() - make_interval(secs => $3::double precision / 1000)`,
            [m.tenantId, held, m.replayPublishedWithinMs],
          );
          replayed = r.rowCount ?? 0;
        }
      });
      const tQueues = Date.now() - t0;
      await at('queues-moved');
      // The target as it is at the decision, for the verification after the cut-over.
      this.keepSnapshot(m.moveId, await this.snapshot(m.target, m.tenantId));
      // The decision: from this commit on the source refuses the tenant and names where it went.
      await L.query('insert into tenant_fences (tenant_id, move_id, moved_to_shard, placement_version) values ($1, $2, $3, $4)', [m.tenantId, m.moveId, m.target.id, placementVersion + 1]);
      await pause.release();
      const decidedAt = new Date().toISOString();
      const tDecided = Date.now() - t0;
      await at('decided');
      await this.openTarget(m);
      const tOpen = Date.now() - t0;
      await movePlacement();
      return { pauseMs: tOpen, lockMs: tLock, markerMs, queuesMs: tQueues, decidedAtMs: tDecided, decidedAt, queues, replayed, placementVersion: placementVersion + 1 };
    });
    return result;
  }

  /** After the decision: the target's held queue rows released and its fence lifted, in one transaction (idempotent). */
  async openTarget(m: TenantMove): Promise<void> {
    const held = `moving-in:${m.moveId}`;
    await this.asTenant(m.target, m.tenantId, async (c) => {
      await c.query('begin');
      try {
        for (const q of MOVE_QUEUES) await c.query(`update ${q} set failed_at = null, last_error = null where tenant_id = $1 and last_error = $2`, [m.tenantId, held]);
        await c.query('delete from tenant_fences where tenant_id = $1 and move_id = $2', [m.tenantId, m.moveId]);
        // Wakes the target's relay for the released rows (an update does not fire the insert trigger).
        await c.query(`select pg_notify('hotdash_outbox', '')`);
        await c.query('commit');
      } catch (err) {
        await c.query('rollback').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Step drop-replication (and the compensation of publish/slot/subscribe): subscription, slots (the table-sync ones too), publication; each if present. */
  async dropReplication(m: TenantMove, subscriptionOid?: string): Promise<void> {
    await this.dropSubscription(m);
    await this.dropSlots(m, subscriptionOid);
    await this.dropPublication(m);
  }

  async dropSubscription(m: TenantMove): Promise<void> {
    const name = TenantMover.replicationName(m.moveId);
    await this.as(m.target, 'subscriber', async (c) => {
      if (!(await c.query('select 1 from pg_subscription where subname = $1', [name])).rowCount) return;
      await c.query(`alter subscription ${ident(c, name)} disable`);
      await c.query(`alter subscription ${ident(c, name)} set (slot_name = none)`);
      await c.query(`drop subscription ${ident(c, name)}`);
    });
  }

  /** The move's slot and, when its subscription was dropped during the initial copy, the table-sync slots named after the subscription. */
  async dropSlots(m: TenantMove, subscriptionOid?: string): Promise<void> {
    const name = TenantMover.replicationName(m.moveId);
    await this.as(m.source, 'mover', async (c) => {
      // LIKE with its own wildcards escaped: pg\_<oid>\_sync\_%.
      const pattern = subscriptionOid && /^\d+$/.test(subscriptionOid) ? `pg\\_${subscriptionOid}\\_sync\\_%` : null;
      // A just-disabled subscription's walsender may hold its slot for a moment.
      for (let i = 0; i < 200; i++) {
        const slots = await c.query<{ slot_name: string; active: boolean }>(
          'select slot_name, active from pg_replication_slots where slot_name = $1 or ($2::text is not null and slot_name like $2)',
          [name, pattern],
        );
        if (!slots.rowCount) return;
        for (const s of slots.rows) if (!s.active) await c.query('select pg_drop_replication_slot($1)', [s.slot_name]).catch(() => undefined);
        await sleep(50);
      }
      throw new TenantMoveError(`the replication slots of move ${m.moveId} on shard ${m.source.name} stay in use`, 'slot-busy', true);
    });
  }

  async dropPublication(m: TenantMove): Promise<void> {
    const name = TenantMover.replicationName(m.moveId);
    await this.as(m.source, 'owner', (c) => c.query(`drop publication if exists ${ident(c, name)}`));
  }

  /**
   * Step post-verify: the source (frozen since the decision) against the target's snapshot taken in
   * the cut-over's pause, every table, the queues without the columns a move changes. Skipped
   * (undefined) when that snapshot is gone: the process that took it stopped.
   */
  async verifyAfterCutOver(m: TenantMove): Promise<{ tables: number; rows: number } | undefined> {
    const kept = cutOverSnapshots.get(m.moveId);
    if (!kept) return undefined;
    cutOverSnapshots.delete(m.moveId);
    clearTimeout(kept.timer);
    try {
      return await this.asTenant(m.source, m.tenantId, async (source) => {
        const tables = await tenantTableNames(source);
        const [a, b] = await Promise.all([tableSums(source, m.tenantId, tables), tableSums(kept.client, m.tenantId, tables)]);
        const differ = tables.filter((t) => a[t] !== b[t]);
        if (differ.length) throw new TenantMoveError(`after the cut-over the copies differ (the source's rows are kept): ${differ.map((t) => `${t} ${a[t]} vs ${b[t]}`).join('; ')}`, 'verification-failed', false);
        return { tables: tables.length, rows: Object.values(a).reduce((n, x) => n + Number(x.split('/')[0]), 0) };
      });
    } finally {
      await kept.client.end().catch(() => undefined);
    }
  }

  /** Step cleanup-source: the tenant's rows on the source deleted in batches, children first; its fence stays (the tombstone). */
  async cleanupSource(m: TenantMove): Promise<{ deleted: number }> {
    return { deleted: await this.deleteTenantRows(m.source, m.tenantId) };
  }

  /**
   * Compensation of fence-target: the tenant's rows on the target (held queue copies and markers
   * included) and the move's fence there. Refused once the move is decided: from there it only
   * finishes (the tenant is served by the target).
   */
  async abortTarget(m: TenantMove): Promise<{ deleted: number }> {
    if (await this.decided(m)) throw new TenantMoveError(`move ${m.moveId} was decided (shard ${m.source.name} holds its fence): it can only be finished, not undone`, 'move-decided', false);
    const deleted = await this.deleteTenantRows(m.target, m.tenantId);
    await this.asTenant(m.target, m.tenantId, (c) => c.query('delete from tenant_fences where tenant_id = $1 and move_id = $2', [m.tenantId, m.moveId]));
    return { deleted };
  }

  /** Removes what the move wrote on the source besides the decision: its markers (an abort; cleanup-source removes them with the rest). */
  async removeMarkers(m: TenantMove): Promise<void> {
    await this.asTenant(m.source, m.tenantId, (c) => c.query('delete from tenant_move_markers where tenant_id = $1 and move_id = $2', [m.tenantId, m.moveId]));
  }

  // ---------------------------------------------------------------------------------- internals

  private async deleteTenantRows(shard: MoverLocation, tenantId: TenantId): Promise<number> {
    return this.asTenant(shard, tenantId, async (c) => {
      let total = 0;
      for (const t of [...(await tenantTablesParentsFirst(c)).reverse(), 'tenant_move_markers']) {
        for (;;) {
          const r = await c.query(`delete from ${ident(c, t)} where ctid = any(array(select ctid from ${ident(c, t)} where tenant_id = $1 limit ${DELETE_BATCH}))`, [tenantId]);
          total += r.rowCount ?? 0;
          if ((r.rowCount ?? 0) < DELETE_BATCH) break;
        }
      }
      return total;
    });
  }

  /**
   * Pauses the tenant on the source: a transaction in its context takes the gate's lock exclusively
   * (new transactions of the tenant wait in their opening; running ones finish first, within the lock
   * timeout, else 'refused'). `fn` gets the holder (commit it with release(); the decision goes in
   * it) and a second connection to write markers with. Closing ends the pause if fn did not.
   */
  private async withPause<T>(m: TenantMove, fn: (pause: { holder: Client; writer: Client; release: () => Promise<void> }) => Promise<T>): Promise<T | 'refused'> {
    return this.asTenant(m.source, m.tenantId, (holder) =>
      this.asTenant(m.source, m.tenantId, async (writer) => {
        await holder.query('begin');
        await holder.query(`select set_config('lock_timeout', $1, true)`, [`${this.pauseLockTimeoutMs}ms`]);
        try {
          await holder.query('select pg_advisory_xact_lock($1, hashtext($2))', [PAUSE_LOCK_CLASS, m.tenantId]);
        } catch (err) {
          await holder.query('rollback').catch(() => undefined);
          if ((err as { code?: string }).code === '55P03') return 'refused' as const;
          throw err;
        }
        await holder.query(`select set_config('lock_timeout', '0', true)`);
        let released = false;
        const release = async () => {
          if (released) return;
          released = true;
          await holder.query('commit');
        };
        try {
          return await fn({ holder, writer, release });
        } finally {
          if (!released) await holder.query('rollback').catch(() => undefined);
        }
      }),
    );
  }

  /** A repeatable-read snapshot of the tenant on a shard (an open transaction on a connection of its own; end it to close). */
  private async snapshot(shard: MoverLocation, tenantId: TenantId): Promise<Client> {
    const c = await this.connect(shard, 'owner');
    try {
      await enterTenant(c, tenantId);
      await c.query('begin isolation level repeatable read');
      await c.query('select 1');
      return c;
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
  }

  private keepSnapshot(moveId: string, client: Client): void {
    const old = cutOverSnapshots.get(moveId);
    if (old) {
      clearTimeout(old.timer);
      void old.client.end().catch(() => undefined);
    }
    // Not kept for ever: a move whose next steps never come frees its connection.
    const timer = setTimeout(() => {
      cutOverSnapshots.delete(moveId);
      void client.end().catch(() => undefined);
    }, 10 * 60_000);
    timer.unref();
    cutOverSnapshots.set(moveId, { client, timer });
  }

  private async appliedMigrations(shard: MoverLocation): Promise<string[]> {
    return this.as(shard, 'owner', async (c) => {
      const exists = await c.query<{ t: string | null }>(`select to_regclass('public.hotdash_migrations')::text as t`);
      if (!exists.rows[0]?.t) return [];
      return (await c.query<{ name: string }>('select name from hotdash_migrations order by name')).rows.map((r) => r.name);
    });
  }

  private async tablesWithoutIdentity(shard: MoverLocation): Promise<string[]> {
    return this.as(shard, 'owner', async (c) => {
      const r = await c.query<{ relname: string }>(
        `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
         where n.nspname = 'public' and c.relkind = 'r' and c.relreplident <> 'f'
           and not exists (select 1 from pg_index i where i.indrelid = c.oid and a.attnum = any(i.indkey)
             and ((c.relreplident = 'd' and i.indisprimary) or (c.relreplident = 'i' and i.indisreplident)))
         order by 1`,
      );
      return r.rows.map((x) => x.relname);
    });
  }

  /** The location's own role when it has one (every connection to it), else the configuration's role. */
  private credentialsFor(location: MoverLocation, who: Who): DbRoleCredentials {
    return location.credentials ?? this.config.db[who];
  }

  private async connect(location: MoverLocation, who: Who): Promise<Client> {
    const creds = this.credentialsFor(location, who);
    const c = new Client({
      host: location.host,
      port: location.port,
      database: location.database,
      user: creds.user,
      password: creds.password,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'hotdash-mover',
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (err) {
      await c.end().catch(() => undefined);
      const as = location.credentials ? `its own role ${creds.user}` : `the ${who} role`;
      throw new TenantMoveError(`cannot connect to ${location.host}:${location.port}/${location.database} as ${as}: ${(err as Error).message}`, 'shard-unavailable', true);
    }
    return c;
  }

  private async as<T>(location: MoverLocation, who: Who, fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.connect(location, who);
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** A connection as the owner in the tenant's row-level-security context (the whole session), with the canonical text forms. */
  private asTenant<T>(location: MoverLocation, tenantId: TenantId, fn: (c: Client) => Promise<T>): Promise<T> {
    return this.as(location, 'owner', async (c) => {
      await enterTenant(c, tenantId);
      return fn(c);
    });
  }
}

/** The session's tenant (every statement under its RLS) and the text forms checksums compare. */
async function enterTenant(c: Client, tenantId: TenantId): Promise<void> {
  await c.query(
    `select set_config('app.tenant_id', $1, false), set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, YMD', false),
            set_config('IntervalStyle', 'postgres', false), set_config('extra_float_digits', '1', false), set_config('bytea_output', 'hex', false)`,
    [uuidOf(tenantId)],
  );
}

function uuidOf(id: string): string {
  if (!UUID.test(id)) throw new Error(`not a tenant id: ${id}`);
  return id.toLowerCase();
}

function ident(c: Client, name: string): string {
  return c.escapeIdentifier(name);
}

/** The shard's tables with a tenant_id column, the move's bookkeeping aside, by name. */
async function tenantTableNames(c: Client): Promise<string[]> {
  const r = await c.query<{ t: string }>(
    `select c.relname::text as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
     where n.nspname = 'public' and c.relkind = 'r' and c.relname <> all($1::text[]) order by 1`,
    [[...SHARD_BOOKKEEPING_TABLES]],
  );
  return r.rows.map((x) => x.t);
}

/** The same tables, every one after the tables it references (so deleting in reverse removes children first). */
async function tenantTablesParentsFirst(c: Client): Promise<string[]> {
  const tables = await tenantTableNames(c);
  const fks = await c.query<{ child: string; parent: string }>(
    `select distinct ch.relname::text as child, pa.relname::text as parent from pg_constraint con
     join pg_class ch on ch.oid = con.conrelid join pg_class pa on pa.oid = con.confrelid
     where con.contype = 'f' and ch.oid <> pa.oid`,
  );
  const ordered: string[] = [];
  const waiting = new Map(tables.map((t) => [t, new Set(fks.rows.filter((f) => f.child === t && tables.includes(f.parent)).map((f) => f.parent))]));
  while (waiting.size) {
    const ready = [...waiting].filter(([, deps]) => deps.size === 0).map(([t]) => t).sort();
    if (!ready.length) throw new Error(`foreign keys between ${[...waiting.keys()].join(', ')} form a cycle`);
    for (const t of ready) {
      waiting.delete(t);
      ordered.push(t);
      for (const deps of waiting.values()) deps.delete(t);
    }
  }
  return ordered;
}

async function columnNames(c: Client, table: string): Promise<string[]> {
  const r = await c.query<{ c: string }>('select attname::text as c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum', [table]);
  return r.rows.map((x) => x.c);
}

/**
 * Per table, the tenant's row count and the sum of its rows' hashes (`hashtext` of the row's text
 * form, without the columns a move changes): one pass over the tenant's index, no sort, the same
 * on any shard of the same schema under the same text settings.
 */
async function tableSums(c: Client, tenantId: TenantId, tables: readonly string[]): Promise<TableSums> {
  const sums: TableSums = {};
  for (const t of tables) {
    const cols = (await columnNames(c, t)).filter((x) => !(MOVED_COLUMNS[t] ?? []).includes(x));
    const r = await c.query<{ n: string; h: string }>(
      `select count(*)::text as n, coalesce(sum(hashtext(row(${cols.map((x) => ident(c, x)).join(', ')})::text)::bigint), 0)::text as h from ${ident(c, t)} where tenant_id = $1`,
      [tenantId],
    );
    sums[t] = `${r.rows[0]!.n}/${r.rows[0]!.h}`;
  }
  return sums;
}
