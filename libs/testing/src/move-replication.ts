import { TenantMover } from '@hotdash/platform-db';
import type { TestWorld } from './world';

/**
 * Drops what half-finished live moves left on the local cluster (a spec's afterAll), as the
 * superuser: for each move id, its subscription in any of `databases` (disabled and detached from
 * its slot first, so that dropping it never waits for the publisher), its publication, and its
 * replication slots (the move's own, named after it, and the table-sync slots of its subscription).
 * A move that finished or rolled back left none of these; nothing else is touched. Databases that do
 * not exist (dropped already) are passed over. Call it before dropping a database a move wrote to: a
 * database with a subscription or a slot cannot be dropped.
 */
export async function dropMoveReplication(world: TestWorld, moveIds: string[], databases: string[]): Promise<void> {
  const names = [...new Set(moveIds)].map((id) => TenantMover.replicationName(id));
  if (!names.length) return;
  const syncPatterns: string[] = [];
  for (const database of new Set(databases)) {
    const su = await world.connectSuperuser(database).catch(() => undefined);
    if (!su) continue;
    try {
      const subs = await su.query<{ subname: string; oid: string }>(
        `select subname, oid::text as oid from pg_subscription where subname = any($1) and subdbid = (select oid from pg_database where datname = current_database())`,
        [names],
      );
      for (const { subname, oid } of subs.rows) {
        syncPatterns.push(`pg\\_${oid}\\_sync\\_%`);
        await su.query(`alter subscription ${subname} disable`);
        await su.query(`alter subscription ${subname} set (slot_name = none)`);
        await su.query(`drop subscription ${subname}`);
      }
      for (const { pubname } of (await su.query<{ pubname: string }>('select pubname from pg_publication where pubname = any($1)', [names])).rows) await su.query(`drop publication ${pubname}`);
    } finally {
      await su.end();
    }
  }
  const su = await world.connectSuperuser('postgres');
  try {
    // A slot still held by a walsender (its subscription just disabled) is let go of first.
    for (let i = 0; i < 100; i++) {
      const { rows } = await su.query<{ slot_name: string; active_pid: number | null }>(
        'select slot_name, active_pid from pg_replication_slots where slot_name = any($1) or slot_name like any($2)',
        [names, syncPatterns],
      );
      if (!rows.length) return;
      for (const s of rows) {
        if (s.active_pid !== null) await su.query('select pg_terminate_backend($1)', [s.active_pid]);
        else await su.query('select pg_drop_replication_slot($1)', [s.slot_name]).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`replication slots of moves ${moveIds.join(', ')} stay in use`);
  } finally {
    await su.end();
  }
}
