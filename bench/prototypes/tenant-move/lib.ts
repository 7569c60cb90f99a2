/**
 * Shared parts of the tenant-move prototypes (scratch clusters only, never the shared 54329 one):
 * the scratch shards, a prototype control database, and `GatedTenants`, a withTenant with the
 * tenant gate (pause + fence) in its opening, a placement cache dropped on NOTIFY, and a re-route
 * when a fence answers.
 */
import { Client, Pool, PoolClient } from 'pg';
import { runTransaction, type Statement } from '@hotdash/platform-db/src/driver-transaction';
import { TenantTransaction, TenantTransactionTimeoutError } from '@hotdash/platform-db/src/tenant-transaction';

export interface Loc {
  name: string;
  id: string;
  host: string;
  port: number;
  database: string;
}

export const SHARDS: Record<string, Loc> = {
  a: { name: 'a', id: '00000000-0000-0000-0000-00000000000a', host: '127.0.0.1', port: 54339, database: 'shard_a' },
  b: { name: 'b', id: '00000000-0000-0000-0000-00000000000b', host: '127.0.0.1', port: 54339, database: 'shard_b' },
  c: { name: 'c', id: '00000000-0000-0000-0000-00000000000c', host: '127.0.0.1', port: 54340, database: 'shard_c' },
};
export const shardById = (id: string): Loc => Object.values(SHARDS).find((s) => s.id === id)!;
export const CONTROL = { host: '127.0.0.1', port: 54339, database: 'tmove_control' };
export const MOVING_TENANT = '0193aaaa-0000-7000-8000-000000000001';

const PASSWORDS: Record<string, string> = { hotdash_app: 'hotdash_app_local', hotdash_owner: 'hotdash_owner_local', hotdash_relay: 'hotdash_relay_local', postgres: '' };

export function client(loc: { host: string; port: number; database: string }, user = 'postgres', app = 'tmove'): Client {
  return new Client({ host: loc.host, port: loc.port, database: loc.database, user, password: PASSWORDS[user], application_name: app });
}

export async function connect(loc: { host: string; port: number; database: string }, user = 'postgres', app = 'tmove'): Promise<Client> {
  const c = client(loc, user, app);
  await c.connect();
  c.on('error', () => undefined);
  return c;
}

export function pool(loc: { host: string; port: number; database: string }, user: string, max: number): Pool {
  const p = new Pool({ host: loc.host, port: loc.port, database: loc.database, user, password: PASSWORDS[user], max, idleTimeoutMillis: 120_000, application_name: `tmove-${user}` });
  p.on('error', () => undefined);
  return p;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tables of a tenant shard that carry tenant_id (the fence and marker tables excepted). */
export async function tenantTables(c: Client): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>(
    `select c.relname t from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
     where n.nspname = 'public' and c.relkind = 'r' and c.relname not in ('tenant_fences', 'tenant_move_markers', 'tenant_fences_norls') order by 1`,
  );
  return rows.map((r) => r.t);
}

export type Opening = 'plain' | 'lock' | 'gate' | 'gate-merged' | 'lock-check' | 'lock-check-norls' | 'gate-merged-norls';

/** The statements that open a tenant transaction, per variant (all pipelined with the first statement). */
export function openingFor(variant: Opening, tenantId: string): Statement[] {
  switch (variant) {
    case 'plain':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true)", values: [tenantId] }];
    case 'lock':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true), pg_advisory_xact_lock_shared(72011260, hashtext($1))", values: [tenantId] }];
    case 'gate':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true)", values: [tenantId] }, { text: 'select tenant_gate($1::uuid)', values: [tenantId] }];
    case 'gate-merged':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true), tenant_gate($1::uuid)", values: [tenantId] }];
    case 'gate-merged-norls':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true), tenant_gate_norls($1::uuid)", values: [tenantId] }];
    // The fence read in plain SQL; the caller rolls back when it answers true (the callback's first
    // statement has run by then, in the same pipeline, and is undone).
    case 'lock-check':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true), pg_advisory_xact_lock_shared(72011260, hashtext($1)), exists (select 1 from tenant_fences where tenant_id = $1::uuid) as fenced", values: [tenantId] }];
    case 'lock-check-norls':
      return [{ text: 'begin' }, { text: "select set_config('app.tenant_id', $1, true), pg_advisory_xact_lock_shared(72011260, hashtext($1)), exists (select 1 from tenant_fences_norls where tenant_id = $1::uuid) as fenced", values: [tenantId] }];
  }
}

/** A tenant transaction on a given pool with a given opening (the project's runTransaction and handle). */
export async function txOn<T>(p: Pool, opening: Statement[], fn: (tx: TenantTransaction) => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const c: PoolClient = await p.connect();
  return runTransaction(c, new TenantTransaction(c), { opening, timeoutMs, timeoutError: (ms) => new TenantTransactionTimeoutError(ms), endedBy: 'txOn' }, fn);
}

/**
 * withTenant as a moved tenant needs it: placement cached until a `hotdash_placements`
 * notification names the tenant (no TTL), the gate in every transaction's opening, and on a fence
 * (SQLSTATE HDM01, raised before any statement of the callback ran) the placement is read again
 * and the callback runs on the shard it names. Nothing of the callback has run when the gate
 * refuses, so running it again is safe here; the product should re-route inside the transaction
 * handle instead (see docs/tenant-move.md).
 */
export class GatedTenants {
  private readonly pools = new Map<string, Pool>();
  private readonly cache = new Map<string, { shard: Loc; version: number }>();
  private control!: Pool;
  private listener?: Client;
  reroutes = 0;
  notifications = 0;

  constructor(private readonly poolSize = 8) {}

  async start(): Promise<void> {
    this.control = pool(CONTROL, 'hotdash_app', 2);
    this.listener = await connect(CONTROL, 'hotdash_app', 'tmove-listen');
    this.listener.on('notification', (n) => {
      this.notifications++;
      const [tenant] = (n.payload ?? '').split(':');
      if (tenant) this.cache.delete(tenant);
    });
    await this.listener.query('listen hotdash_placements');
  }

  poolOf(shard: Loc): Pool {
    let p = this.pools.get(shard.name);
    if (!p) this.pools.set(shard.name, (p = pool(shard, 'hotdash_app', this.poolSize)));
    return p;
  }

  async placement(tenantId: string): Promise<{ shard: Loc; version: number }> {
    const hit = this.cache.get(tenantId);
    if (hit) return hit;
    const { rows } = await this.control.query<{ shard_id: string; version: number }>('select shard_id, version from tenant_placements where tenant_id = $1', [tenantId]);
    const p = { shard: shardById(rows[0]!.shard_id), version: rows[0]!.version };
    this.cache.set(tenantId, p);
    return p;
  }

  async withTenant<T>(tenantId: string, fn: (tx: TenantTransaction, shard: Loc) => Promise<T>): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (let attempt = 0; ; attempt++) {
      const { shard } = await this.placement(tenantId);
      try {
        return await txOn(this.poolOf(shard), openingFor('gate-merged', tenantId), (tx) => fn(tx, shard));
      } catch (err) {
        if ((err as { code?: string }).code !== 'HDM01' || Date.now() > deadline) throw err;
        this.reroutes++;
        const cached = this.cache.get(tenantId);
        const hint = /^([0-9a-f-]{36}):(\d+)$/.exec((err as { detail?: string }).detail ?? '');
        // The source's fence names where the tenant went: go there at once (it is committed before
        // the placement moves, so it may be ahead of the control database), else read the placement.
        if (hint && (!cached || Number(hint[2]) > cached.version)) this.cache.set(tenantId, { shard: shardById(hint[1]!), version: Number(hint[2]) });
        else this.cache.delete(tenantId);
        // A fence without a placement that moved yet (the mover died between its two commits): wait for the saga.
        if (attempt > 0) await sleep(Math.min(5 * attempt, 100));
      }
    }
  }

  async close(): Promise<void> {
    await this.listener?.end().catch(() => undefined);
    await this.control?.end().catch(() => undefined);
    await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => undefined)));
  }
}

/** CPU seconds (user + system) of every process of a scratch cluster (its postmaster and children). */
export function clusterCpuSeconds(port: number): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readFileSync, readdirSync } = require('node:fs') as typeof import('node:fs');
  const pidFile = `/tmp/tmove-pg-${port}/data/postmaster.pid`;
  const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const tck = 100;
  let total = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      if (Number(d) !== postmaster && ppid !== postmaster) continue;
      total += (Number(f[11]) + Number(f[12])) / tck;
      // Backends that ended were reaped by the postmaster: their CPU is in its children's counters.
      if (Number(d) === postmaster) total += (Number(f[13]) + Number(f[14])) / tck;
    } catch {
      /* gone */
    }
  }
  return total;
}
