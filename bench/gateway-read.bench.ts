/**
 * An authenticated, tenant-scoped read through the gateway against a plain Fastify route running
 * the same query with raw `pg`, in one process, same run.
 *
 *   scripts/run node -r @swc-node/register bench/gateway-read.bench.ts
 *
 * a  gateway: the Nest/Fastify gateway app (DatabaseModule, AuthModule, IdentityModule,
 *    GatewayModule) serving GET /api-keys with an admin's access token: JWT verification, the
 *    revocation check and rate-limit decision (one Redis script, which also gives back the in-flight
 *    slots of the tenant's requests that ended since), role check, tenant context, withTenant +
 *    Kysely under RLS reading the tenant's 5 API keys, and the audit of access (AccessLog: an outbox
 *    entry per request, written in batches every 100 ms). No relay runs: the entries are deleted
 *    from the outboxes at the end, with the raised limits.
 * b  baseline: a bare Fastify app, GET /plain/:tenantId, the same query with raw `pg` on a Pool as
 *    the application role: `begin; set_config('app.tenant_id', …); select … from api_keys where
 *    tenant_id = $1 order by created_at; commit` (the tables force row-level security, so without
 *    the setting even this query reads nothing). No auth, no limits, no Nest, no Prisma.
 *
 * Both answer the same JSON rows. The client is in the same process (keep-alive http.Agent,
 * BENCH_CONCURRENCY requests in flight); rounds alternate a and b; medians. Each round also reports
 * the process's CPU per request (client and servers; the machine's other load moves it less than
 * the rate). Tenants: BENCH_TENANTS
 * accounts (createAccount), 5 keys each, requests spread over them; the limits hash of each tenant
 * is raised so no request is refused (readers and clients: bench/lib/gateway-load.ts, shared with
 * bench/audit-lag.bench.ts).
 *
 * Env: BENCH_REQUESTS (per path per round, 5000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16), BENCH_TENANTS (10).
 */
import 'reflect-metadata';
import { loadavg } from 'node:os';
import { Module } from '@nestjs/common';
import Fastify from 'fastify';
import { Pool } from 'pg';
import { AuthModule, TokenService } from '@hotdash/platform-auth';
import { DatabaseModule } from '@hotdash/platform-db';
import { createFastifyHttpApp } from '@hotdash/platform-http';
import { GatewayModule } from '@hotdash/gateway';
import { IdentityModule } from '@hotdash/identity';
import { TestWorld } from '@hotdash/testing';
import { AccessLog } from '@hotdash/gateway';
import { ClosedLoop, dropReaderLimits, prepareReaders } from './lib/gateway-load';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);

const world = new TestWorld();

async function main(): Promise<void> {
  @Module({ imports: [DatabaseModule.forRoot(world.config), AuthModule.forRoot(world.config), IdentityModule, GatewayModule] })
  class BenchGateway {}
  const gateway = await createFastifyHttpApp(BenchGateway, { logger: ['error'] });
  await gateway.listen(0, '127.0.0.1');
  const gatewayPort = Number(new URL((await gateway.getUrl()).replace('[::1]', '127.0.0.1')).port);
  const { readers: accounts, limitKeys } = await prepareReaders(world, TENANTS, gateway.get(TokenService));

  const pool = new Pool({ host: world.config.db.controlHost, port: world.config.db.controlPort, database: (await world.shards())[0]!.database, user: world.config.db.app.user, password: world.config.db.app.password, max: world.config.db.poolSize });
  const plain = Fastify();
  plain.get<{ Params: { tenantId: string } }>('/plain/:tenantId', async (req) => {
    const c = await pool.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('app.tenant_id', $1, true)`, [req.params.tenantId]);
      const r = await c.query(
        `select id::text, name, prefix, role, scopes, created_by::text, created_at, expires_at, last_used_at, revoked_at from api_keys where tenant_id = $1 order by created_at`,
        [req.params.tenantId],
      );
      await c.query('commit');
      return r.rows;
    } finally {
      c.release();
    }
  });
  await plain.listen({ port: 0, host: '127.0.0.1' });
  const plainPort = (plain.server.address() as { port: number }).port;

  const gatewayClients = new ClosedLoop(gatewayPort, CONCURRENCY);
  const plainClients = new ClosedLoop(plainPort, CONCURRENCY);
  const paths = {
    gateway: async () => (await gatewayClients.run((i) => ({ path: '/api-keys', headers: { authorization: `Bearer ${accounts[i % accounts.length]!.token}` } }), { requests: REQUESTS })).rate,
    plain: async () => (await plainClients.run((i) => ({ path: `/plain/${accounts[i % accounts.length]!.tenantId}`, headers: {} }), { requests: REQUESTS })).rate,
  };
  await paths.gateway();
  await paths.plain();
  const rates: Record<keyof typeof paths, number[]> = { gateway: [], plain: [] };
  // This process's CPU per request during each path's rounds (client and both servers live here; the
  // other path's server is idle meanwhile): the figure the machine's other load moves least.
  const cpu: Record<keyof typeof paths, number[]> = { gateway: [], plain: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of (r % 2 ? ['plain', 'gateway'] : ['gateway', 'plain']) as (keyof typeof paths)[]) {
      const cpu0 = process.cpuUsage();
      const rate = await paths[name]();
      const used = process.cpuUsage(cpu0);
      rates[name].push(rate);
      cpu[name].push((used.user + used.system) / REQUESTS);
      console.log(`round ${r + 1} ${name}: ${rate.toFixed(0)} req/s, process CPU ${cpu[name].at(-1)!.toFixed(0)} µs/request`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ratio = med(rates.gateway) / med(rates.plain);
  console.log(`\n${REQUESTS} requests per path per round, ${ROUNDS} rounds, ${CONCURRENCY} in flight, ${TENANTS} tenants; medians; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`| path | req/s | process CPU µs/request |\n|---|---:|---:|\n| gateway GET /api-keys | ${med(rates.gateway).toFixed(0)} | ${med(cpu.gateway).toFixed(0)} |\n| plain Fastify + raw pg | ${med(rates.plain).toFixed(0)} | ${med(cpu.plain).toFixed(0)} |`);
  console.log(`\ngateway/plain ${ratio.toFixed(2)}× (target ≥ 0.6×: ${ratio >= 0.6 ? 'MET' : 'MISSED'}); CPU per request gateway − plain ${(med(cpu.gateway) - med(cpu.plain)).toFixed(0)} µs`);
  // Clean-up: the access entries the gateway wrote to the readers' outboxes (no relay runs here:
  // left behind, they would be published by the next relay and appended by the next audit
  // consumer, slowing later runs) and the raised limits.
  await gateway.get(AccessLog).flush();
  await gateway.close();
  await dropReaderLimits(world, limitKeys);
  let removed = 0;
  for (const shard of await world.shards()) {
    const su = await world.connectSuperuser(shard.database);
    try {
      removed += (await su.query('delete from outbox where tenant_id = any($1::uuid[])', [accounts.map((a) => a.tenantId)])).rowCount ?? 0;
    } finally {
      await su.end();
    }
  }
  console.log(`clean-up: ${removed} access entries of the bench tenants removed from the outboxes`);
  await plain.close();
  await pool.end();
  gatewayClients.close();
  plainClients.close();
  await world.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
