import { newId } from '@hotdash/platform-db';
import type { TestWorld } from './world';

/** A database name for a spec's scratch shard: `hotdash_spec_<label>_<12 random hex>`. */
export function scratchDatabaseName(label: string): string {
  return `hotdash_spec_${label}_${newId().replace(/-/g, '').slice(-12)}`;
}

/**
 * An empty database on the local server, created by the platform's owner role (CREATEDB), as an ops
 * team would create one before registering it as a shard: `prepared` gives the application and
 * relay roles the use of schema `public` and nobody the right to create in it (as deploy/local
 * prepares its shards); unprepared, schema `public` is closed to them. Not migrated, not
 * registered. Drop it with dropScratchShard().
 */
export async function createEmptyShardDatabase(world: TestWorld, name: string, prepared = true): Promise<{ host: string; port: number; database: string }> {
  const location = { host: world.config.db.controlHost, port: world.config.db.controlPort, database: name };
  const server = await world.connect({ ...location, database: 'postgres' }, 'owner');
  try {
    await server.query(`create database ${name}`);
  } finally {
    await server.end();
  }
  const db = await world.connect(location, 'owner');
  try {
    await db.query('revoke all on schema public from public');
    if (prepared) await db.query(`grant usage on schema public to ${world.config.db.app.user}, ${world.config.db.relay.user}`);
  } finally {
    await db.end();
  }
  return location;
}

/**
 * Removes what a spec registered: the shards of these names from the control plane, as the owner
 * (the services may not delete shards; the spec removes its ops_actions entries, provisioning's
 * table, itself), then the databases (dropped with the
 * superuser, which may end the connections relays and pools still hold to them). A shard row must
 * go before its database, and must never be left behind: the placement policy would put other
 * specs' tenants on it.
 */
export async function dropScratchShards(world: TestWorld, shardNames: readonly string[], databases: readonly string[]): Promise<void> {
  const owner = await world.connect(world.dbs.controlLocation, 'owner');
  try {
    await owner.query('delete from shards where name = any($1)', [shardNames]);
  } finally {
    await owner.end();
  }
  for (const d of databases) await world.dropScratchDatabase(d);
}
