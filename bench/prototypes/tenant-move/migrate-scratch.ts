/**
 * Applies the tenant migrations to the scratch shards of the tenant-move experiments (never the
 * shared cluster): `scripts/run node -r @swc-node/register bench/prototypes/tenant-move/migrate-scratch.ts`
 * Env TMOVE_SHARDS: comma-separated host:port/db (default the three scratch shards).
 */
import { join } from 'node:path';
import { migrateDatabase, readMigrations } from '@hotdash/platform-db/src/migrate/runner';

const shards = (process.env.TMOVE_SHARDS ?? '127.0.0.1:54339/shard_a,127.0.0.1:54339/shard_b,127.0.0.1:54340/shard_c').split(',');
const migrations = readMigrations(join(__dirname, '..', '..', '..', 'prisma', 'tenant', 'migrations'));

void (async () => {
  for (const s of shards) {
    const m = /^(.*):(\d+)\/(.*)$/.exec(s)!;
    const r = await migrateDatabase({ host: m[1]!, port: Number(m[2]), database: m[3]! }, { user: 'hotdash_owner', password: 'hotdash_owner_local' }, migrations);
    console.log(r.target, 'applied', r.applied.length, 'already', r.alreadyApplied, r.error ?? '');
  }
})();
