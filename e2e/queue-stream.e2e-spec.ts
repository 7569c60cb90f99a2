// The queue's live stream through the gateway, across processes (issue 16 item 3): two gateways,
// each with its own drafts process; changes made through one reach streams opened on the other
// (the shard's NOTIFY, not process memory). From the attacker's side: an operator's stream carries
// nothing of another operator's tickets, tenant B's nothing of tenant A's, and no stream any ticket
// text. The credential goes in a header only (a token in the address is no credential); a request
// that does not accept an event stream is refused (406); open streams are capped per user (429
// too-many-streams, the slot given back when a stream ends); a stream ends with `closed`
// token-expired when its token runs out; a gateway's and a drafts process's shutdown end their
// streams with `closed` shutdown within the graceful path, and a client reconnecting elsewhere is
// `ready` again.
import { SseFrames } from '@hotdash/contracts';
import { AuthKeys, TokenService } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { addOperator, createAccount, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, waitFor } from '@hotdash/testing';

jest.setTimeout(120_000);

const G1 = 'http://127.0.0.1:3610';
const D1 = 'http://127.0.0.1:3611';
const G2 = 'http://127.0.0.1:3612';
const D2 = 'http://127.0.0.1:3613';
const QUOTA = 'http://127.0.0.1:3614';

const world = new TestWorld();
let processes: ServiceProcess[] = [];
let admin: TestAccount;
let red: TestAccount;
let blue: TestAccount;
let green: TestAccount;
let other: TestAccount;
const tokens: Record<string, string> = {};
const streams: Stream[] = [];

interface Stream {
  status: number;
  /** Everything received, as text. */
  text: string;
  events: { event: string; data: Record<string, unknown> }[];
  ended: boolean;
  /** Resolves when the stream has ended (by the server, or closed here). */
  done: Promise<void>;
  close(): void;
}

async function login(gateway: string, acc: TestAccount): Promise<string> {
  const res = await fetch(`${gateway}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  return ((await res.json()) as { accessToken: string }).accessToken;
}

/** Opens the queue stream and reads it in the background. */
async function open(gateway: string, token: string, path = '/queue/stream', headers: Record<string, string> = { accept: 'text/event-stream' }): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${gateway}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers }, signal: abort.signal });
  const s: Stream = { status: res.status, text: '', events: [], ended: false, done: Promise.resolve(), close: () => abort.abort() };
  streams.push(s);
  if (res.status !== 200 || !res.body) {
    s.text = await res.text();
    s.ended = true;
    return s;
  }
  const frames = new SseFrames();
  const decoder = new TextDecoder();
  s.done = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        s.text += text;
        for (const f of frames.push(text)) {
          const m = SseFrames.parse(f);
          if (m.event) s.events.push({ event: m.event, data: JSON.parse(m.data ?? '{}') as Record<string, unknown> });
        }
      }
    } catch {
      // closed here
    } finally {
      s.ended = true;
    }
  })();
  return s;
}

const changed = (s: Stream, ticketId: string) => s.events.some((e) => e.event === 'change' && e.data.ticketId === ticketId);
const ticketIds = (s: Stream) => new Set(s.events.filter((e) => e.event === 'change').map((e) => e.data.ticketId as string));
const ready = (s: Stream) => waitFor('the stream ready', async () => s.events.some((e) => e.event === 'ready'), 20_000);

async function createTicket(gateway: string, token: string, n: number, assigneeId?: string): Promise<string> {
  const res = await fetch(`${gateway}/tickets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ customer: { name: `Stream Customer ${n}`, email: `stream${n}@customer.test` }, subject: `Stream subject ${n}`, body: `Stream message ${n}` }),
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  if (assigneeId) {
    const put = await fetch(`${gateway}/tickets/${id}/assignee`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ assigneeId }) });
    expect(put.status).toBe(200);
  }
  return id;
}

beforeAll(async () => {
  const gateway = (port: string, drafts: string) => ({
    entry: 'apps/gateway/src/main.ts',
    env: { HOTDASH_GATEWAY_PORT: port, HOTDASH_DRAFTS_URL: drafts, HOTDASH_QUOTA_URL: QUOTA, HOTDASH_QUEUE_STREAMS_PER_USER: '2' },
    url: `http://127.0.0.1:${port}`,
  });
  processes = await startServices([
    gateway('3610', D1),
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3611' }, url: D1 },
    gateway('3612', D2),
    { entry: 'apps/drafts/src/main.ts', env: { HOTDASH_DRAFTS_PORT: '3613' }, url: D2 },
    // Tickets in through the API hold the plan's quota first.
    { entry: 'apps/quota/src/main.ts', env: { HOTDASH_QUOTA_PORT: '3614' }, url: QUOTA },
  ]);
  admin = await createAccount(world, 'admin');
  red = await addOperator(world, admin, 'operator', 'red');
  blue = await addOperator(world, admin, 'operator', 'blue');
  green = await addOperator(world, admin, 'operator', 'green');
  other = await createAccount(world, 'admin');
  for (const [name, acc] of [['admin', admin], ['red', red], ['blue', blue], ['green', green], ['other', other]] as const) tokens[name] = await login(G1, acc);
}, 120_000);

afterAll(async () => {
  for (const s of streams) s.close();
  await Promise.all(processes.map((p) => p.stop()));
  await world.close();
}, 60_000);

it('takes the credential from a header only and answers only a client that accepts an event stream', async () => {
  const plain = await open(G1, tokens.admin!, '/queue/stream', {});
  expect([plain.status, (JSON.parse(plain.text) as { code: string }).code]).toEqual([406, 'event-stream-required']);
  const res = await fetch(`${G1}/queue/stream?access_token=${tokens.admin}`, { headers: { accept: 'text/event-stream' } });
  expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([401, 'missing-credentials']);
});

it("streams each caller's own queue, whichever process made the change; nothing of another operator's or tenant's tickets, no ticket text", async () => {
  const s = { admin: await open(G1, tokens.admin!), red: await open(G1, tokens.red!), blue: await open(G1, tokens.blue!), other: await open(G1, tokens.other!) };
  for (const x of Object.values(s)) expect(x.status).toBe(200);
  await Promise.all(Object.values(s).map(ready));
  // Made through the other gateway and drafts process.
  const t = await createTicket(G2, tokens.admin!, 1, red.userId);
  await waitFor('the admin told', async () => changed(s.admin, t));
  await waitFor('the assignee told', async () => changed(s.red, t));
  // Barriers (commit order per tenant): blue's own ticket, and tenant B's.
  const barrier = await createTicket(G2, tokens.admin!, 2, blue.userId);
  await waitFor('blue told of its own ticket', async () => changed(s.blue, barrier));
  const foreign = await createTicket(G2, tokens.other!, 3);
  await waitFor('tenant B told of its own ticket', async () => changed(s.other, foreign));
  await waitFor('the admin told of the barrier', async () => changed(s.admin, barrier));

  expect(changed(s.blue, t)).toBe(false);
  expect(ticketIds(s.other)).toEqual(new Set([foreign]));
  for (const x of [s.admin, s.red, s.blue]) expect(changed(x, foreign)).toBe(false);
  for (const x of Object.values(s)) {
    for (const e of x.events.filter((e) => e.event === 'change')) expect(Object.keys(e.data).sort()).toEqual(['kind', 'ticketId']);
    for (const secret of ['Stream Customer', 'customer.test', 'Stream subject', 'Stream message']) expect(x.text).not.toContain(secret);
    expect(x.text).not.toContain(tokens.admin!);
  }
  for (const x of Object.values(s)) x.close();
});

it('caps the streams one user holds open (429 too-many-streams), and gives a slot back when a stream ends', async () => {
  const a = await open(G1, tokens.green!);
  const b = await open(G1, tokens.green!);
  expect([a.status, b.status]).toEqual([200, 200]);
  const c = await open(G1, tokens.green!);
  expect([c.status, (JSON.parse(c.text) as { code: string }).code]).toEqual([429, 'too-many-streams']);
  // Another user of the tenant is not held back by green's streams.
  const d = await open(G1, tokens.blue!);
  expect(d.status).toBe(200);
  a.close();
  await waitFor('a slot given back', async () => {
    const e = await open(G1, tokens.green!);
    e.close();
    return e.status === 200;
  });
  b.close();
  d.close();
});

it('ends a stream with closed token-expired when its token runs out', async () => {
  const short = await new TokenService(AuthKeys.fromEnv(), { accessTtlSeconds: 3 }).issueAccess({ kind: 'user', tenantId: red.tenantId, subject: red.userId, role: 'operator', sessionId: newId(), scopes: ['*'] });
  const s = await open(G1, short);
  expect(s.status).toBe(200);
  await ready(s);
  await waitFor('the stream ended', async () => s.ended, 15_000);
  expect(s.events.at(-1)).toEqual({ event: 'closed', data: { reason: 'token-expired' } });
});

it("ends every stream with closed shutdown when a gateway or a drafts process stops; a client reconnecting elsewhere is ready again and hears changes", async () => {
  const onG1 = await open(G1, tokens.admin!);
  await ready(onG1);
  // SIGTERM: the stream ends with closed (shutdown) at once, within the graceful path (before the server closes).
  const [g1] = processes;
  const stopping = g1!.stop();
  await waitFor('the stream ended', async () => onG1.ended, 5_000);
  expect(onG1.events.at(-1)).toEqual({ event: 'closed', data: { reason: 'shutdown' } });
  // The rest of its shutdown closes this client's keep-alive connection once idle: it exits on its own, cleanly.
  await stopping;
  expect({ code: g1!.child.exitCode, signal: g1!.child.signalCode }).toEqual({ code: 0, signal: null });

  // The portal reconnects (to another gateway): ready, and changes flow.
  const onG2 = await open(G2, tokens.admin!);
  await ready(onG2);
  const t = await createTicket(G2, tokens.admin!, 4);
  await waitFor('the change heard after reconnecting', async () => changed(onG2, t));

  // Its drafts process stops: the stream through G2 ends the same way.
  const stoppingDrafts = processes[3]!.stop();
  await waitFor('the stream ended', async () => onG2.ended, 5_000);
  expect(onG2.events.at(-1)).toEqual({ event: 'closed', data: { reason: 'shutdown' } });
  await stoppingDrafts;
  expect({ code: processes[3]!.child.exitCode, signal: processes[3]!.child.signalCode }).toEqual({ code: 0, signal: null });
});
