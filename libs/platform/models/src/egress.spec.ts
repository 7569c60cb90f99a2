// The egress guard on tenant-supplied URLs, against real local servers: https ones on 127.0.0.1 and
// 127.0.0.2 with a self-signed certificate made here with the openssl CLI (trusted through the
// guard's `ca` option), and a plain http one. Addresses that must never be reached from here
// (private, link-local, metadata) come only from an injected DNS lookup, and in those cases
// net.connect and tls.connect throw if called: the guard must refuse before any connection.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@hotdash/testing';
import { createEgressFetch, DraftPrompt, EgressError, GuardedFetch, ModelError, OpenAiChatModel, parseEgressAllowList, platformServiceAddresses } from './index';

jest.setTimeout(20_000);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const realNet = jest.requireActual<typeof import('node:net')>('node:net');
const realTls = jest.requireActual<typeof import('node:tls')>('node:tls');

let dir: string;
let key: Buffer;
let cert: Buffer;
const servers: Server[] = [];
const guards: GuardedFetch[] = [];

/** An https server on `host` (the certificate names 127.0.0.1, 127.0.0.2, ::1, localhost and *.test), counting its requests. */
async function httpsServer(host: string, handler: Handler): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createHttpsServer({ key, cert }, (req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as AddressInfo).port, requests };
}

async function httpServer(host: string, handler: Handler): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as AddressInfo).port, requests };
}

const json =
  (value: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) =>
    void res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));

/** A guard with no allow-list, no platform services and no environment unless given. */
function guard(options: Parameters<typeof createEgressFetch>[0] = {}): GuardedFetch {
  const g = createEgressFetch({ allow: '', env: {}, platformServices: [], ca: cert, ...options });
  guards.push(g);
  return g;
}

/** net.connect and tls.connect throw while the returned spies are installed: nothing may connect. */
function forbidConnections(): { restore(): void; calls(): number } {
  const refuse = () => {
    throw new Error('the guard connected although it should have refused first');
  };
  const spies = [jest.spyOn(realNet, 'connect').mockImplementation(refuse), jest.spyOn(realTls, 'connect').mockImplementation(refuse)];
  return { restore: () => spies.forEach((s) => s.mockRestore()), calls: () => spies.reduce((n, s) => n + s.mock.calls.length, 0) };
}

async function refusal(p: Promise<unknown>): Promise<EgressError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EgressError);
  return err as EgressError;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotdash-egress-'));
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=hotdash-egress-spec',
      '-addext', 'subjectAltName=DNS:localhost,DNS:rebind.test,DNS:model.test,DNS:other.test,IP:127.0.0.1,IP:127.0.0.2,IP:::1',
    ],
    { stdio: 'ignore' },
  );
  key = readFileSync(join(dir, 'key.pem'));
  cert = readFileSync(join(dir, 'cert.pem'));
});

afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe('createEgressFetch', () => {
  it('reaches an allow-listed https server, and refuses loopback (127.0.0.1, ::1, localhost) that is not, before connecting', async () => {
    const a = await httpsServer('127.0.0.1', json({ ok: true }));
    const res = await guard({ allow: '127.0.0.1' })(`https://127.0.0.1:${a.port}/ok`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });

    const g = guard();
    const spies = forbidConnections();
    try {
      for (const url of [`https://127.0.0.1:${a.port}/`, `https://[::1]:${a.port}/`, `https://localhost:${a.port}/`, `https://[::ffff:127.0.0.1]:${a.port}/`]) {
        const err = await refusal(g(url));
        expect(err).toMatchObject({ code: 'egress-refused', reason: 'address' });
        expect(err.message).toMatch(/loopback address, which a tenant's endpoint may not reach; allow-list it with HOTDASH_EGRESS_ALLOW if it is yours$/);
      }
      expect(spies.calls()).toBe(0);
    } finally {
      spies.restore();
    }
    expect(a.requests).toEqual(['/ok']);
  });

  it('(the connection spies do stop the guard’s own connections)', async () => {
    const a = await httpsServer('127.0.0.1', json({ ok: true }));
    const spies = forbidConnections();
    try {
      await expect(guard({ allow: '127.0.0.1' })(`https://127.0.0.1:${a.port}/`)).rejects.toThrow();
      expect(spies.calls()).toBeGreaterThan(0);
    } finally {
      spies.restore();
    }
    expect(a.requests).toEqual([]);
  });

  it.each([
    ['10.0.0.5', 'private-network'],
    ['192.168.1.1', 'private-network'],
    ['172.16.0.1', 'private-network'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['fd00::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.5', 'private-network'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved or special-purpose'],
    ['64:ff9b::a00:5', 'reserved or special-purpose'],
  ])('refuses a host name answering %s (%s) before connecting, without naming the address', async (address, label) => {
    const asked: string[] = [];
    const g = guard({
      lookup: async (host) => {
        asked.push(host);
        return [address];
      },
    });
    const spies = forbidConnections();
    try {
      const err = await refusal(g('https://model.test/v1/chat/completions', { method: 'POST', body: '{}' }));
      expect(err).toMatchObject({ code: 'egress-refused', reason: 'address' });
      expect(err.message).toBe(`https://model.test:443 was refused: model.test resolves to a ${label} address, which a tenant's endpoint may not reach; allow-list it with HOTDASH_EGRESS_ALLOW if it is yours`);
      expect(spies.calls()).toBe(0);
    } finally {
      spies.restore();
    }
    expect(asked).toEqual(['model.test']);
  });

  it('refuses a name when any one of its answers is not public, before connecting', async () => {
    const g = guard({ lookup: async () => ['93.184.215.14', '10.0.0.5'] });
    const spies = forbidConnections();
    try {
      expect(await refusal(g('https://model.test/'))).toMatchObject({ code: 'egress-refused', reason: 'address' });
      expect(spies.calls()).toBe(0);
    } finally {
      spies.restore();
    }
  });

  it('checks every connection: a name whose answer turns from an allow-listed address to loopback is refused on the next call', async () => {
    const r = await httpsServer('127.0.0.2', json({ ok: true }, { connection: 'close' }));
    const answers = [['127.0.0.2'], ['127.0.0.1']];
    const asked: string[] = [];
    const g = guard({
      allow: '127.0.0.2',
      lookup: async (host) => {
        asked.push(host);
        return answers.shift() ?? [];
      },
    });
    const first = await g(`https://rebind.test:${r.port}/first`);
    expect(first.status).toBe(200);
    await first.text();
    const err = await refusal(g(`https://rebind.test:${r.port}/second`));
    expect(err).toMatchObject({ code: 'egress-refused', reason: 'address' });
    expect(err.message).toContain(`https://rebind.test:${r.port} was refused: rebind.test resolves to a loopback address`);
    expect(asked).toEqual(['rebind.test', 'rebind.test']);
    expect(r.requests).toEqual(['/first']);
  });

  it('checks every redirect hop: an allow-listed server redirecting to a loopback port, or to plain http, is refused at the redirect', async () => {
    const b = await httpsServer('127.0.0.1', json({ stolen: true }));
    const a = await httpsServer('127.0.0.2', (req, res) => {
      const to: Record<string, string> = {
        '/hop': `https://127.0.0.1:${b.port}/stolen`,
        '/downgrade': `http://127.0.0.2:${b.port}/plain`,
        '/same': '/ok',
      };
      if (to[req.url ?? '']) return void res.writeHead(307, { location: to[req.url!]! }).end();
      json({ ok: true })(req, res);
    });
    const g = guard({ allow: '127.0.0.2' });
    const followed = await g(`https://127.0.0.2:${a.port}/same`);
    expect([followed.status, followed.redirected, await followed.json()]).toEqual([200, true, { ok: true }]);

    const hop = await refusal(g(`https://127.0.0.2:${a.port}/hop`, { method: 'POST', body: '{"secret":1}', headers: { authorization: 'Bearer sk-tenant' } }));
    expect(hop).toMatchObject({ code: 'egress-refused', reason: 'address' });
    expect(hop.message).toContain(`https://127.0.0.1:${b.port} was refused: 127.0.0.1 is a loopback address`);
    const downgrade = await refusal(g(`https://127.0.0.2:${a.port}/downgrade`));
    expect(downgrade).toMatchObject({ code: 'egress-refused', reason: 'scheme' });
    expect(b.requests).toEqual([]);
    expect(a.requests).toEqual(['/same', '/ok', '/hop', '/downgrade']);
  });

  it('refuses plain http unless its exact origin is allow-listed as http://host:port', async () => {
    const h = await httpServer('127.0.0.1', json({ plain: true }));
    const spies = forbidConnections();
    try {
      const err = await refusal(guard({ allow: '127.0.0.1' })(`http://127.0.0.1:${h.port}/v1`));
      expect(err).toMatchObject({ code: 'egress-refused', reason: 'scheme' });
      expect(err.message).toBe(
        `http://127.0.0.1:${h.port} was refused: a tenant's endpoint must use https, not plain http; if it is yours, allow-list it with HOTDASH_EGRESS_ALLOW as http://127.0.0.1:${h.port}`,
      );
      const g = guard({ allow: `http://127.0.0.1:${h.port}` });
      expect(await refusal(g(`http://127.0.0.1:${h.port + 1}/v1`))).toMatchObject({ reason: 'scheme' });
      expect(await refusal(g(`http://localhost:${h.port}/v1`))).toMatchObject({ reason: 'scheme' });
      expect(spies.calls()).toBe(0);
    } finally {
      spies.restore();
    }
    const res = await guard({ allow: `http://127.0.0.1:${h.port}` })(`http://127.0.0.1:${h.port}/v1`);
    expect(await res.json()).toEqual({ plain: true });
    expect(h.requests).toEqual(['/v1']);
  });

  it('refuses a user name or password in the URL and schemes other than https, without resolving anything or repeating the password', async () => {
    const lookup = jest.fn(async () => ['93.184.215.14']);
    const g = guard({ lookup });
    const creds = await refusal(g('https://user:hunter2@model.test/v1'));
    expect(creds).toMatchObject({ code: 'egress-refused', reason: 'credentials' });
    expect(creds.message).not.toContain('hunter2');
    expect(await refusal(g('ftp://model.test/'))).toMatchObject({ code: 'egress-refused', reason: 'scheme' });
    expect(await refusal(g('not a url'))).toMatchObject({ code: 'egress-refused', reason: 'invalid-url' });
    expect(lookup).not.toHaveBeenCalled();
  });

  it('lets a host name entry allow that name (on its port) only', async () => {
    const a = await httpsServer('127.0.0.1', json({ ok: true }));
    const g = guard({ allow: `model.test:${a.port}`, lookup: async () => ['127.0.0.1'] });
    expect((await g(`https://model.test:${a.port}/`)).status).toBe(200);
    expect(await refusal(g(`https://other.test:${a.port}/`))).toMatchObject({ reason: 'address' });
    expect(await refusal(g(`https://model.test:${a.port + 1}/`))).toMatchObject({ reason: 'address' });
  });

  it('refuses the platform’s own services even when the allow-list covers them (loopback aliases and named hosts too)', async () => {
    const s = await httpsServer('127.0.0.1', json({ service: true }));
    const env = { HOTDASH_REDIS_HOST: '127.0.0.1', HOTDASH_REDIS_PORT: String(s.port), HOTDASH_KAFKA_BROKERS: 'kafka.internal:9092' };
    const lookup = async (host: string) => (host === 'kafka.internal' || host === 'models.example' ? ['10.1.2.3'] : ['127.0.0.1']);
    const g = createEgressFetch({ allow: '127.0.0.0/8,10.0.0.0/8', env, lookup, ca: cert });
    guards.push(g);
    const spies = forbidConnections();
    try {
      for (const url of [`https://127.0.0.1:${s.port}/`, `https://127.0.0.2:${s.port}/`, `https://localhost:${s.port}/`, 'https://models.example:9092/']) {
        const err = await refusal(g(url));
        expect(err).toMatchObject({ code: 'egress-refused', reason: 'platform-service' });
        expect(err.message).toMatch(/was refused: it is an address of the platform's own services, which a tenant's endpoint may never reach$/);
      }
      expect(spies.calls()).toBe(0);
    } finally {
      spies.restore();
    }
    // The same allow-list without that service reaches the server: the refusal was the platform list's.
    expect((await guard({ allow: '127.0.0.0/8' })(`https://127.0.0.1:${s.port}/`)).status).toBe(200);
    expect(s.requests).toEqual(['/']);
  });

  it('without an allow-list, refuses a platform service port like any loopback one (no hint that a service is there)', async () => {
    const g = createEgressFetch({ allow: '', env: { HOTDASH_REDIS_PORT: '6379' }, ca: cert });
    guards.push(g);
    expect(await refusal(g('https://127.0.0.1:6379/'))).toMatchObject({ reason: 'address' });
  });

  it('cuts an answer past the size cap, declared or streamed, with a clear error, and reads one under it', async () => {
    let sent = 0;
    let closedEarly = false;
    const total = 32 * 1024 * 1024;
    const big = await httpsServer('127.0.0.1', (req, res) => {
      if (req.url === '/declared') return void res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) }).end(Buffer.alloc(2 * 1024 * 1024));
      if (req.url === '/small') return void res.writeHead(200).end(Buffer.alloc(1000, 'a'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => (closedEarly = sent < total));
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const write = (): void => {
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        if (sent >= total) res.end();
      };
      write();
    });
    const g = guard({ allow: '127.0.0.1', maxResponseBytes: 256 * 1024 });
    const streamed = await g(`https://127.0.0.1:${big.port}/stream`);
    const err = await refusal(streamed.text());
    expect(err).toMatchObject({ code: 'egress-response-too-large', reason: 'too-large' });
    expect(err.message).toBe(`https://127.0.0.1:${big.port} answered with more than 262144 bytes, the most read from a tenant's endpoint; the answer was cut`);
    await waitFor('the server to see the connection cut', async () => closedEarly, 5_000, 20);
    expect(sent).toBeLessThan(total);

    expect(await refusal(g(`https://127.0.0.1:${big.port}/declared`))).toMatchObject({ code: 'egress-response-too-large' });
    expect((await (await g(`https://127.0.0.1:${big.port}/small`)).text()).length).toBe(1000);
  });

  it('times out a server that never answers, and one that stops in the middle of its body', async () => {
    const slow = await httpsServer('127.0.0.1', (req, res) => {
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"partial":');
      }
    });
    const g = guard({ allow: '127.0.0.1', timeoutMs: 300 });
    const started = Date.now();
    const silent = await g(`https://127.0.0.1:${slow.port}/never`).catch((e: unknown) => e);
    expect(silent).toMatchObject({ name: 'TimeoutError' });
    const stalled = await g(`https://127.0.0.1:${slow.port}/stall`);
    expect(await stalled.text().catch((e: unknown) => e)).toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('platformServiceAddresses and the allow-list', () => {
  it('lists every configured service address with the services’ defaults, and not the platform’s model provider', () => {
    const listed = platformServiceAddresses({
      HOTDASH_PG_HOST: 'pg.internal',
      HOTDASH_PG_PORT: '6432',
      HOTDASH_BOOTSTRAP_SHARDS: 'shard-1=shard1.internal:5433/hotdash_shard_1',
      HOTDASH_REDIS_HOST: 'redis.internal',
      HOTDASH_REDIS_PORT: '6380',
      HOTDASH_KAFKA_BROKERS: 'k1.internal:9092, [fd00::7]:9093',
      HOTDASH_WEAVIATE_URL: 'http://weaviate.internal:8080',
      HOTDASH_WEAVIATE_GRPC_PORT: '50051',
      HOTDASH_AUDIT_URL: 'https://audit.internal',
      HOTDASH_DRAFTS_PORT: '4102',
      HOTDASH_OPENAI_BASE_URL: 'https://api.openai.com/v1',
    });
    expect(listed).toEqual(
      expect.arrayContaining(
        [
          ['pg.internal', 6432],
          ['shard1.internal', 5433],
          ['redis.internal', 6380],
          ['k1.internal', 9092],
          ['fd00::7', 9093],
          ['weaviate.internal', 8080],
          ['weaviate.internal', 50051],
          ['audit.internal', 443],
          ['127.0.0.1', 4102],
          ['127.0.0.1', 3100],
        ].map(([host, port]) => ({ host, port })),
      ),
    );
    expect(listed.some((s) => s.host === 'api.openai.com')).toBe(false);
    expect(listed.some((s) => s.port === 3102)).toBe(false);
    const defaults = platformServiceAddresses({}).map((s) => `${s.host}:${s.port}`);
    expect(defaults).toEqual(expect.arrayContaining(['127.0.0.1:54329', '127.0.0.1:63790', '127.0.0.1:19092', '127.0.0.1:18080', '127.0.0.1:50052', '127.0.0.1:3101', '127.0.0.1:3107', '127.0.0.1:3108']));
    // The services' ops-only metrics ports (each service's port + 1000 by default), too.
    expect(defaults).toEqual(expect.arrayContaining(['127.0.0.1:4100', '127.0.0.1:4104', '127.0.0.1:4108']));
    expect(platformServiceAddresses({ HOTDASH_METRICS_PORT: '9464' }).map((s) => `${s.host}:${s.port}`)).toContain('127.0.0.1:9464');
  });

  it('reads IPs, CIDRs and host names with optional ports and http origins, and throws on an entry it cannot read', () => {
    expect(parseEgressAllowList(' 10.0.0.0/8, models.internal:8443, [fd00::1]:443, fd00::/8, http://127.0.0.1:8080, 192.168.1.10 ,')).toHaveLength(6);
    for (const bad of ['not a host!', 'http://x.internal/v1', 'models.internal:99999', 'user@host', '10.0.0.0/33']) {
      expect(() => parseEgressAllowList(bad)).toThrow(/^HOTDASH_EGRESS_ALLOW: cannot read/);
    }
  });
});

describe('OpenAiChatModel with the guarded fetch (a tenant’s own endpoint)', () => {
  const prompt: DraftPrompt = { companyName: 'Acme', brandVoice: '', policies: [], passages: [], ticket: { customerName: null, subject: null, body: 'Where is my order?' } };

  it('fails at once, not retryable, with model-endpoint-refused when the endpoint is loopback', async () => {
    const b = await httpsServer('127.0.0.1', json({ choices: [{ message: { content: 'hi' } }] }));
    const model = new OpenAiChatModel({ baseUrl: `https://127.0.0.1:${b.port}/v1`, apiKey: 'sk-tenant', model: 'm', maxRetries: 3, fetch: guard() });
    const started = Date.now();
    const err = await model.draft(prompt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ code: 'model-endpoint-refused', retryable: false });
    expect((err as Error).message).toContain('HOTDASH_EGRESS_ALLOW');
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(b.requests).toEqual([]);
  });

  it('drafts from a local http server allow-listed as http://host:port', async () => {
    const h = await httpServer('127.0.0.1', json({ model: 'gpt-local', choices: [{ message: { content: 'Your order ships today.' } }], usage: { prompt_tokens: 3, completion_tokens: 4 } }));
    const model = new OpenAiChatModel({ baseUrl: `http://127.0.0.1:${h.port}/v1`, apiKey: 'sk-tenant', model: 'm', fetch: guard({ allow: `http://127.0.0.1:${h.port}` }) });
    expect(await model.draft(prompt)).toMatchObject({ text: 'Your order ships today.', model: 'gpt-local' });
    expect(h.requests).toEqual(['/v1/chat/completions']);
  });

  it('gives a non-retryable model-bad-answer when the answer passes the cap', async () => {
    const h = await httpServer('127.0.0.1', json({ choices: [{ message: { content: 'x'.repeat(100_000) } }] }));
    const model = new OpenAiChatModel({ baseUrl: `http://127.0.0.1:${h.port}/v1`, apiKey: 'k', model: 'm', fetch: guard({ allow: `http://127.0.0.1:${h.port}`, maxResponseBytes: 10_000 }) });
    expect(await model.draft(prompt).catch((e: unknown) => e)).toMatchObject({ code: 'model-bad-answer', retryable: false });
  });
});
