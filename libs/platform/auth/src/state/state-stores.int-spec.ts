// The one setting (HOTDASH_STATE_STORE) chooses every state port's adapter, and the auth module
// injects the ports only: embedded, the module starts with no Redis at all (AUTH_REDIS is null, no
// Redis readiness probe) and hands out the embedded adapters over one shared state file; redis, the
// Redis adapters. A tenant's offboarding erases its embedded state (and nothing of another tenant's).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@hotdash/platform-config';
import { newId } from '@hotdash/platform-db';
import { AUTH_REDIS, AuthModule } from '../auth.module';
import { AuthKeys } from '../keys';
import { EmbeddedTenantLimitsStore, RedisTenantLimitsStore, TenantLimitsStore } from '../limits';
import { EmbeddedRevocationStore, RevocationList, RevocationStore } from '../revocations';
import { EmbeddedEphemeralStore, EphemeralStore, RedisEphemeralStore } from './ephemeral-store';
import { EmbeddedIdempotencyStore, IdempotencyStore, RedisIdempotencyStore } from './idempotency-store';
import { embeddedStateFile, eraseTenantStateOutsideRedis } from './state-stores';

jest.setTimeout(30_000);

const saved = { store: process.env.HOTDASH_STATE_STORE, dir: process.env.HOTDASH_STATE_DIR };
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotdash-state-stores-'));
});

afterEach(() => {
  for (const [name, v] of [['HOTDASH_STATE_STORE', saved.store], ['HOTDASH_STATE_DIR', saved.dir]] as const)
    if (v === undefined) delete process.env[name];
    else process.env[name] = v;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function boot() {
  @Module({ imports: [AuthModule.forRoot(loadConfig(), { keys: AuthKeys.development() })] })
  class App {}
  return NestFactory.createApplicationContext(App, { logger: false });
}

it('embedded: no Redis, the embedded adapters over one state file, and a tenant erased with its offboarding', async () => {
  process.env.HOTDASH_STATE_STORE = 'embedded';
  process.env.HOTDASH_STATE_DIR = dir;
  const app = await boot();
  try {
    expect(app.get(AUTH_REDIS)).toBeNull();
    expect(app.get(RevocationStore)).toBeInstanceOf(EmbeddedRevocationStore);
    expect(app.get(IdempotencyStore)).toBeInstanceOf(EmbeddedIdempotencyStore);
    expect(app.get(EphemeralStore)).toBeInstanceOf(EmbeddedEphemeralStore);
    expect(app.get(TenantLimitsStore)).toBeInstanceOf(EmbeddedTenantLimitsStore);
    const [a, b] = [newId(), newId()];
    await app.get(EphemeralStore).put(a, 'sso:state:x', 'A', 600);
    await app.get(EphemeralStore).put(b, 'sso:state:x', 'B', 600);
    await app.get(TenantLimitsStore).publish(a, { requestsPerMinute: 5, inFlight: 2 });
    expect(embeddedStateFile().dir).toBe(dir);
    expect(eraseTenantStateOutsideRedis(a)).toBe(2);
    expect(await app.get(EphemeralStore).take(a, 'sso:state:x')).toBeUndefined();
    expect(await app.get(EphemeralStore).take(b, 'sso:state:x')).toBe('B');
  } finally {
    await app.close();
    embeddedStateFile().close();
  }
});

it('redis: the Redis adapters on the auth module’s connection; offboarding’s Redis step keeps the erasure', async () => {
  process.env.HOTDASH_STATE_STORE = 'redis';
  const app = await boot();
  try {
    expect(app.get(AUTH_REDIS)).not.toBeNull();
    expect(app.get(RevocationStore)).toBeInstanceOf(RevocationList);
    expect(app.get(IdempotencyStore)).toBeInstanceOf(RedisIdempotencyStore);
    expect(app.get(EphemeralStore)).toBeInstanceOf(RedisEphemeralStore);
    expect(app.get(TenantLimitsStore)).toBeInstanceOf(RedisTenantLimitsStore);
    expect(eraseTenantStateOutsideRedis(newId())).toBeUndefined();
  } finally {
    await app.close();
  }
});
