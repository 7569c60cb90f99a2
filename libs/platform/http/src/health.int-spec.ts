// Liveness and readiness as the HealthModule serves them (GET /health, GET /health/ready with
// @nestjs/terminus), on both app flavours (Express: createHttpApp; Fastify: the gateway's
// createFastifyHttpApp), with the platform's own probes (Databases#ping, redisProbe,
// KafkaClientPort#ping, WeaviateVectorStore#ready) against the real local stores. A store that is
// down is a genuine refusal (a loopback port nothing listens on) and a hung one a TCP server that
// accepts and never answers; an outage that ends is a TCP proxy to the real store, stopped and started
// again: the shared infrastructure is never stopped here.
import { INestApplication, Module, Type } from '@nestjs/common';
import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';
import { loadConfig, readSetting, type PlatformConfig } from '@hotdash/platform-config';
import { Databases } from '@hotdash/platform-db';
import { createRedis, redisProbe } from '@hotdash/platform-jobs';
import { createKafkaClient } from '@hotdash/platform-messaging';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { closedPort, waitFor } from '@hotdash/testing';
import { HealthModule } from './health.module';
import { createFastifyHttpApp, createHttpApp } from './http-app';
import { Readiness } from './readiness';

jest.setTimeout(30_000);

const config = loadConfig();
const cleanups: (() => Promise<unknown>)[] = [];
/** Hung servers go first: their connections closed, the clients waiting on them give up at once. */
const hungServers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of [...hungServers.splice(0), ...cleanups.splice(0).reverse()]) await c().catch(() => undefined);
});

/** A TCP server that accepts connections and never answers, counting them. */
async function hungServer(): Promise<{ port: number; connections: () => number }> {
  const sockets: Socket[] = [];
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hungServers.push(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => count };
}

/** A TCP proxy to a real store on a port of its own, which can be stopped (every connection cut, new ones refused) and started again. */
async function storeProxy(target: number): Promise<{ port: number; stop(): Promise<void>; start(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const stop = async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    sockets.forEach((s) => s.destroy());
    await closed;
  };
  hungServers.push(() => (server.listening ? stop() : Promise.resolve()));
  return { port, stop, start: () => listen(port) };
}

/** Every probe a service may register, aimed at `at` (the real stores, or one loopback port for all). */
function registerStores(readiness: Readiness, at: 'real' | number, only: ('postgres' | 'redis' | 'kafka' | 'weaviate')[] = ['postgres', 'redis', 'kafka', 'weaviate']): void {
  const port = at === 'real' ? undefined : at;
  const cfg: PlatformConfig = port === undefined ? config : { ...config, db: { ...config.db, controlHost: '127.0.0.1', controlPort: port }, redis: { host: '127.0.0.1', port } };
  if (only.includes('postgres')) {
    const dbs = new Databases(cfg, { connectionTimeoutMillis: 5_000 });
    cleanups.push(() => dbs.close());
    readiness.add('postgres', (ms) => dbs.ping(ms));
  }
  if (only.includes('redis')) {
    // As the services make theirs (a few retries per command, then an error).
    const redis = createRedis(cfg, { maxRetriesPerRequest: 2 });
    cleanups.push(async () => redis.disconnect());
    readiness.add('redis', redisProbe(redis));
  }
  if (only.includes('kafka')) {
    const kafka = createKafkaClient({ brokers: port === undefined ? config.kafka.brokers : [`127.0.0.1:${port}`], clientId: 'readiness-spec' });
    cleanups.push(() => kafka.close());
    readiness.add('kafka', () => kafka.ping());
  }
  if (only.includes('weaviate')) {
    const vectors = port === undefined ? WeaviateVectorStore.fromConfig(config) : new WeaviateVectorStore({ url: `http://127.0.0.1:${port}` });
    cleanups.push(() => vectors.close());
    readiness.add('weaviate', (ms) => vectors.ready(ms));
  }
}

const flavours: [string, (m: Type<unknown>) => Promise<INestApplication>][] = [
  ['express', (m) => createHttpApp(m, { logger: false })],
  ['fastify', (m) => createFastifyHttpApp(m, { logger: false })],
];

type Entries = Record<string, { status: string; message?: string }>;
/** Terminus' body (liveness answers `{ status }` only). */
interface HealthBody {
  status: string;
  info: Entries;
  error: Entries;
  details: Entries;
}

/** An app of `flavour` with the HealthModule; `register` adds the probes, as a service's main.ts and modules do. */
async function start(flavour: (m: Type<unknown>) => Promise<INestApplication>, register: (r: Readiness) => void, timeoutMs = 1_500) {
  const lines: string[] = [];
  @Module({ imports: [HealthModule.forRoot({ timeoutMs, log: { warn: (l) => lines.push(`warn ${l}`), log: (l) => lines.push(`log ${l}`) } })] })
  class AppModule {}
  const app = await flavour(AppModule);
  register(app.get(Readiness));
  await app.listen(0, '127.0.0.1');
  cleanups.push(() => app.close());
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'), body: (await res.json()) as HealthBody };
  };
  return { get, lines };
}

describe.each(flavours)('on %s', (_name, flavour) => {
  it('answers 200 with every dependency up, each listed, when the stores answer', async () => {
    const { get, lines } = await start(flavour, (r) => registerStores(r, 'real'));
    const ready = await get('/health/ready');
    expect([ready.status, ready.body.status, ready.cache, ready.body.error]).toEqual([200, 'ok', 'no-cache, no-store, must-revalidate', {}]);
    expect(ready.type).toMatch(/^application\/json/);
    const up = { status: 'up' };
    expect(ready.body.info).toEqual({ postgres: { ...up, pools: 1 }, redis: up, kafka: up, weaviate: up });
    expect(ready.body.error).toEqual({});
    expect(ready.body.details).toEqual(ready.body.info);
    expect(await get('/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(lines).toEqual([]);
  });

  it('answers 503 naming each dependency that refuses, with its error, and logs each outage once; liveness stays 200', async () => {
    const port = await closedPort();
    const { get, lines } = await start(flavour, (r) => {
      registerStores(r, 'real', ['postgres']);
      registerStores(r, port, ['redis', 'kafka', 'weaviate']);
    });
    const first = await get('/health/ready');
    expect([first.status, first.body.status]).toEqual([503, 'error']);
    // terminus' body, not a problem+json: every dependency is listed.
    expect(first.type).toMatch(/^application\/json/);
    expect(first.body.info).toEqual({ postgres: { status: 'up', pools: 1 } });
    expect(Object.keys(first.body.error).sort()).toEqual(['kafka', 'redis', 'weaviate']);
    for (const name of ['redis', 'kafka', 'weaviate']) expect([name, first.body.error[name]]).toEqual([name, { status: 'down', message: expect.stringMatching(new RegExp(`ECONNREFUSED 127.0.0.1:${port}`)) }]);
    expect(Object.keys(first.body.details).sort()).toEqual(['kafka', 'postgres', 'redis', 'weaviate']);
    // Polled again: still 503, no new log line.
    expect((await get('/health/ready')).status).toBe(503);
    expect(lines.sort()).toEqual(['kafka', 'redis', 'weaviate'].map((n) => expect.stringMatching(new RegExp(`^warn ${n} is down: .*ECONNREFUSED`))));
    expect(await get('/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

it('a refused PostgreSQL is down, naming the database', async () => {
  const port = await closedPort();
  const { get } = await start(flavours[0]![1], (r) => registerStores(r, port, ['postgres']));
  const ready = await get('/health/ready');
  expect([ready.status, ready.body.error.postgres]).toEqual([503, { status: 'down', message: `app@127.0.0.1:${port}/${config.db.controlDatabase}: connect ECONNREFUSED 127.0.0.1:${port}` }]);
});

it('a hung store is down after the time limit, and its probe is not started again while it hangs', async () => {
  const hung = { postgres: await hungServer(), redis: await hungServer(), kafka: await hungServer(), weaviate: await hungServer() };
  const { get } = await start(
    flavours[1]![1],
    (r) => {
      for (const [name, server] of Object.entries(hung)) registerStores(r, server.port, [name as keyof typeof hung]);
    },
    500,
  );
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    const ready = await get('/health/ready');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(ready.status).toBe(503);
    for (const name of Object.keys(hung)) expect([name, ready.body.error[name]]).toEqual([name, { status: 'down', message: expect.stringMatching(/no answer within 500 ms/) }]);
  }
  // One connection each, still waiting: the probes that timed out were not run again on top of it.
  expect([hung.postgres.connections(), hung.redis.connections(), hung.kafka.connections()]).toEqual([1, 1, 1]);
});

it('reports an outage while it lasts and the dependency back after it, on the same clients, one log line each way', async () => {
  const proxies = {
    postgres: await storeProxy(config.db.controlPort),
    redis: await storeProxy(config.redis.port),
    weaviate: await storeProxy(Number(new URL(config.weaviate.url).port)),
  };
  const { get, lines } = await start(flavours[1]![1], (r) => {
    const dbs = new Databases({ ...config, db: { ...config.db, controlHost: '127.0.0.1', controlPort: proxies.postgres.port } }, { connectionTimeoutMillis: 5_000 });
    const redis = createRedis({ ...config, redis: { host: '127.0.0.1', port: proxies.redis.port } }, { maxRetriesPerRequest: 2 });
    const vectors = new WeaviateVectorStore({ url: `http://127.0.0.1:${proxies.weaviate.port}` });
    cleanups.push(() => dbs.close(), async () => redis.disconnect(), () => vectors.close());
    r.add('postgres', (ms) => dbs.ping(ms)).add('redis', redisProbe(redis)).add('weaviate', (ms) => vectors.ready(ms));
  });
  expect((await get('/health/ready')).body).toMatchObject({ status: 'ok', error: {} });

  await Promise.all(Object.values(proxies).map((p) => p.stop()));
  for (let i = 0; i < 3; i++) {
    const down = await get('/health/ready');
    expect([down.status, Object.keys(down.body.error).sort()]).toEqual([503, ['postgres', 'redis', 'weaviate']]);
  }
  expect((await get('/health')).status).toBe(200);

  await Promise.all(Object.values(proxies).map((p) => p.start()));
  // ioredis reconnects on its own backoff (at most 2 s between tries).
  const back = await waitFor('readiness back', async () => {
    const r = await get('/health/ready');
    return r.status === 200 && r;
  }, 10_000, 200);
  expect(back.body).toMatchObject({ status: 'ok', error: {}, info: { postgres: { status: 'up' }, redis: { status: 'up' }, weaviate: { status: 'up' } } });
  expect(lines.filter((l) => l.startsWith('warn')).sort()).toEqual(['postgres', 'redis', 'weaviate'].map((n) => expect.stringMatching(new RegExp(`^warn ${n} is down: `))));
  expect(lines.filter((l) => l.startsWith('log')).sort()).toEqual(['postgres', 'redis', 'weaviate'].map((n) => expect.stringMatching(new RegExp(`^log ${n} is up again \\(down for \\d+\\.\\d s\\)$`))));
});

it('on a Redis Cluster, every master answers the probe; a cluster that refuses is down', async () => {
  const clusterPort = readSetting('HOTDASH_REDIS_CLUSTER_PORT');
  const nodes = config.redis.cluster ?? [0, 1, 2].map((i) => ({ host: '127.0.0.1', port: clusterPort + i }));
  const refused = await closedPort();
  const { get } = await start(flavours[1]![1], (r) => {
    const cluster = createRedis({ ...config, redis: { ...config.redis, cluster: nodes } }, { maxRetriesPerRequest: 2 });
    const gone = createRedis({ ...config, redis: { ...config.redis, cluster: [{ host: '127.0.0.1', port: refused }] } }, { maxRetriesPerRequest: 2 });
    cleanups.push(async () => cluster.disconnect(), async () => gone.disconnect());
    r.add('redis', redisProbe(cluster)).add('redis-refused', redisProbe(gone));
  });
  const ready = await get('/health/ready');
  expect([ready.status, ready.body.info, ready.body.error['redis-refused']?.status]).toEqual([503, { redis: { status: 'up', masters: nodes.length } }, 'down']);
});

it('a Redis connection still being made (no offline queue, as the services\' state clients) is waited for, not reported down', async () => {
  // The gateway's first readiness check can come before its auth client has connected: the client
  // refuses commands until then ("stream isn't writeable"), which reported a store that answers as down.
  const redis = createRedis(config, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  cleanups.push(async () => redis.disconnect());
  const lazy = createRedis(config, { enableOfflineQueue: false, lazyConnect: true });
  cleanups.push(async () => lazy.disconnect());
  expect([redis.status, lazy.status]).toEqual(['connecting', 'wait']);
  const r = new Readiness({ log: { warn: () => undefined, log: () => undefined } });
  r.add('redis', redisProbe(redis), 'eager').add('redis', redisProbe(lazy), 'lazy');
  expect(await r.check('redis')).toEqual({ name: 'redis', up: true, details: { parts: { eager: 'up', lazy: 'up' } } });

  // One that never connects still fails with its error, within the time limit.
  const refused = createRedis({ ...config, redis: { host: '127.0.0.1', port: await closedPort() } }, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  cleanups.push(async () => refused.disconnect());
  const down = await new Readiness({ log: { warn: () => undefined, log: () => undefined } }).add('redis', redisProbe(refused)).check('redis');
  expect([down.up, down.details.message]).toEqual([false, expect.stringMatching(/ECONNREFUSED|reconnecting|closed/)]);
});
