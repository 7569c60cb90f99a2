// Shared by the gateway benchmarks (gateway-read, audit-lag): tenants whose admins read their API
// keys through the gateway, and closed-loop HTTP clients that measure a request rate.
import { sql } from 'kysely';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { publishTenantLimits, tenantLimitsKey, TokenService } from '@hotdash/platform-auth';
import { createAccount, TestAccount, TestWorld } from '@hotdash/testing';

export interface Reader extends TestAccount {
  /** An admin's access token (all scopes). */
  token: string;
}

/**
 * `n` accounts (createAccount: an active tenant and its admin), each with 5 API keys (the rows
 * `GET /api-keys` reads), the tenant's limits raised in Redis so no request is refused, and an
 * access token for the admin issued by `tokens` (the gateway's keys). Returns the readers and the
 * Redis keys of the raised limits (delete them to clean up).
 */
export async function prepareReaders(world: TestWorld, n: number, tokens: TokenService): Promise<{ readers: Reader[]; limitKeys: string[] }> {
  const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
  const readers: Reader[] = [];
  const limitKeys: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const a = await createAccount(world, 'admin');
      await world.tenantDb.withTenant(a.tenantId, async (tx) => {
        for (let k = 0; k < 5; k++)
          await sql`insert into api_keys (id, tenant_id, name, prefix, key_hash, role, scopes, created_by)
            values (gen_random_uuid(), ${a.tenantId}::uuid, ${`key ${k}`}, 'hdk_bench', md5(random()::text) || md5(random()::text), 'operator', '{drafts:read}', ${a.userId}::uuid)`.execute(tx.db);
      });
      await publishTenantLimits(redis, a.tenantId, { requestsPerMinute: 10_000_000, inFlight: 100_000 });
      limitKeys.push(tenantLimitsKey(a.tenantId));
      const token = await tokens.issueAccess({ kind: 'user', tenantId: a.tenantId, subject: a.userId, role: 'admin', sessionId: a.userId, scopes: ['*'] });
      readers.push({ ...a, token });
    }
  } finally {
    redis.disconnect();
  }
  return { readers, limitKeys };
}

/** Deletes the limits prepareReaders raised. */
export async function dropReaderLimits(world: TestWorld, limitKeys: string[]): Promise<void> {
  if (limitKeys.length === 0) return;
  const redis = new Redis({ host: world.config.redis.host, port: world.config.redis.port });
  try {
    await redis.del(...limitKeys);
  } finally {
    redis.disconnect();
  }
}

export interface LoadTarget {
  path: string;
  headers: Record<string, string>;
}

/**
 * Closed-loop clients: `concurrency` requests in flight on keep-alive connections, each sending
 * the next request when its answer has arrived. Any answer other than 200 fails the run.
 */
export class ClosedLoop {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    private readonly concurrency: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  }

  get(path: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, path, headers, agent: this.agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** `requests` requests in all, or as many as fit in `seconds`; the rate answered (requests/s). */
  async run(target: (i: number) => LoadTarget, until: { requests: number } | { seconds: number }): Promise<{ requests: number; seconds: number; rate: number }> {
    let next = 0;
    let done = 0;
    const t0 = performance.now();
    const more = 'requests' in until ? () => next < until.requests : () => performance.now() - t0 < until.seconds * 1000;
    await Promise.all(
      Array.from({ length: this.concurrency }, async () => {
        while (more()) {
          const { path, headers } = target(next++);
          const status = await this.get(path, headers);
          if (status !== 200) throw new Error(`GET ${path} answered ${status}`);
          done++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { requests: done, seconds, rate: done / seconds };
  }

  close(): void {
    this.agent.destroy();
  }
}
