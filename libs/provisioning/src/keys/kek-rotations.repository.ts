import { Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import type { ControlDB } from '@hotdash/platform-db';

/** Per KEK id the keys were under: to re-wrap when the run started, and re-wrapped so far. */
export type PerKek = Record<string, { total: number; rewrapped: number }>;

/** A rotation run as stored (kek_rotations). */
export interface KekRotationRow {
  id: string;
  actor: string;
  status: 'running' | 'succeeded' | 'failed';
  fromKekId: string | null;
  toKekId: string;
  total: number;
  rewrapped: number;
  perKek: PerKek;
  code: string | null;
  error: string | null;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

const COLUMNS = ['id', 'actor', 'status', 'from_kek_id', 'to_kek_id', 'total', 'rewrapped', 'per_kek', 'code', 'error', 'started_at', 'updated_at', 'finished_at'] as const;

interface Row {
  id: string;
  actor: string;
  status: string;
  from_kek_id: string | null;
  to_kek_id: string;
  total: number;
  rewrapped: number;
  per_kek: unknown;
  code: string | null;
  error: string | null;
  started_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const toRow = (r: Row): KekRotationRow => ({
  id: r.id,
  actor: r.actor,
  status: r.status as KekRotationRow['status'],
  fromKekId: r.from_kek_id,
  toKekId: r.to_kek_id,
  total: r.total,
  rewrapped: r.rewrapped,
  perKek: (r.per_kek ?? {}) as PerKek,
  code: r.code,
  error: r.error,
  startedAt: r.started_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
});

/**
 * KEK rotation runs (kek_rotations, provisioning's control table): the kek-rotation saga advances a
 * run's counts in the transaction of each batch it re-wraps, so they are exact after a crash. At
 * most one running run (a partial unique index).
 */
@Injectable()
export class KekRotationsRepository {
  /** Inserts a running run; undefined when a run is running already (the unique index). */
  async insert(db: Kysely<ControlDB>, run: { id: string; actor: string; fromKekId: string | null; toKekId: string; perKek: Record<string, number> }): Promise<KekRotationRow | undefined> {
    const perKek: PerKek = Object.fromEntries(Object.entries(run.perKek).map(([k, n]) => [k, { total: n, rewrapped: 0 }]));
    const total = Object.values(run.perKek).reduce((a, b) => a + b, 0);
    const row = await db
      .insertInto('kek_rotations')
      .values({ id: run.id, actor: run.actor, from_kek_id: run.fromKekId, to_kek_id: run.toKekId, total, per_kek: JSON.stringify(perKek) })
      .onConflict((oc) => oc.doNothing())
      .returning(COLUMNS)
      .executeTakeFirst();
    return row && toRow(row);
  }

  async byId(db: Kysely<ControlDB>, id: string): Promise<KekRotationRow | undefined> {
    const row = await db.selectFrom('kek_rotations').select(COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toRow(row);
  }

  async running(db: Kysely<ControlDB>): Promise<KekRotationRow | undefined> {
    const row = await db.selectFrom('kek_rotations').select(COLUMNS).where('status', '=', 'running').executeTakeFirst();
    return row && toRow(row);
  }

  /**
   * Adds a batch's re-wraps (per KEK id they were under) to a running run, in the batch's
   * transaction; false when the run is not running (nothing changed).
   */
  async advance(db: Kysely<ControlDB>, id: string, done: Record<string, number>): Promise<boolean> {
    const run = await db.selectFrom('kek_rotations').select(['per_kek', 'status']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!run || run.status !== 'running') return false;
    const perKek = { ...((run.per_kek ?? {}) as PerKek) };
    let n = 0;
    for (const [kekId, count] of Object.entries(done)) {
      // A key under a KEK not counted at the start (wrapped under it since: a service that still had it first).
      const was = perKek[kekId] ?? { total: 0, rewrapped: 0 };
      perKek[kekId] = { total: Math.max(was.total, was.rewrapped + count), rewrapped: was.rewrapped + count };
      n += count;
    }
    await db
      .updateTable('kek_rotations')
      .set((eb) => ({ rewrapped: eb('rewrapped', '+', n), per_kek: JSON.stringify(perKek), updated_at: sql`now()` }))
      .where('id', '=', id)
      .execute();
    return true;
  }

  /** Ends a running run; the run as it ended, or undefined when it was not running. */
  async finish(db: Kysely<ControlDB>, id: string, status: 'succeeded' | 'failed', code: string | null = null, error: string | null = null): Promise<KekRotationRow | undefined> {
    const row = await db
      .updateTable('kek_rotations')
      .set({ status, code, error: error?.slice(0, 2_000) ?? null, updated_at: sql`now()`, finished_at: sql`now()` })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returning(COLUMNS)
      .executeTakeFirst();
    return row && toRow(row);
  }
}
