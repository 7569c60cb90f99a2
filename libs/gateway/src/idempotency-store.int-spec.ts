// The IdempotencyStore port's contract, through the gateway's IdempotentReplies, on each adapter:
// Redis (single node and cluster) and the embedded state file. A request with a key runs once and
// its answer is replayed; another body is 422, a retry while running 409, a 5xx is not kept; tenant
// B's request with tenant A's key runs on its own and never sees A's answer (the attacker's side);
// a running claim ends with its time to live; a data subject's erasure deletes only the entries that
// hold it, of its tenant; with the embedded store a POST repeated after a restart is not run twice.
import { createHash } from 'node:crypto';
import { EmbeddedIdempotencyStore, type IdempotencyStore, RedisIdempotencyStore } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';
import { tenantKeyPrefix } from '@hotdash/platform-jobs';
import { STATE_BACKINGS, type StateBacking, waitFor } from '@hotdash/testing';
import { IdempotentReplies, type StoredReply } from './idempotency';

jest.setTimeout(30_000);

describe.each(STATE_BACKINGS)('IdempotencyStore on %s', (name, make) => {
  let backing: StateBacking;
  const tenants: string[] = [];
  const tenant = (): string => {
    const id = newId();
    tenants.push(id);
    return id;
  };
  const store = (): IdempotencyStore => (backing.redis ? new RedisIdempotencyStore(backing.redis) : new EmbeddedIdempotencyStore(backing.state!));
  const replies = () => new IdempotentReplies(store());
  const counter = () => {
    let runs = 0;
    const make = async (): Promise<StoredReply> => ({ status: 201, contentType: 'application/json', body: JSON.stringify({ run: ++runs }) });
    return { make, runs: () => runs };
  };

  beforeAll(() => {
    backing = make();
  });
  afterAll(() => backing.close(tenants.flatMap((t) => [tenantKeyPrefix(t), `hotdash:idem:${t}:`])));

  it('runs once and replays; another body is 422; tenant B with A’s key runs its own and never sees A’s answer', async () => {
    const [a, b] = [tenant(), tenant()];
    const c = counter();
    const r = replies();
    expect(await r.once({ tenantId: a, route: 'POST /things' }, 'k-1', { x: 1 }, c.make)).toMatchObject({ body: '{"run":1}', replayed: false });
    expect(await r.once({ tenantId: a, route: 'POST /things' }, 'k-1', { x: 1 }, c.make)).toMatchObject({ body: '{"run":1}', replayed: true });
    await expect(r.once({ tenantId: a, route: 'POST /things' }, 'k-1', { x: 2 }, c.make)).rejects.toMatchObject({ status: 422, code: 'idempotency-key-reused' });
    // The attacker's side: B sends A's key and body; it runs for B, and B's replay is B's own answer.
    expect(await r.once({ tenantId: b, route: 'POST /things' }, 'k-1', { x: 1 }, c.make)).toMatchObject({ body: '{"run":2}', replayed: false });
    expect(await r.once({ tenantId: b, route: 'POST /things' }, 'k-1', { x: 1 }, c.make)).toMatchObject({ body: '{"run":2}', replayed: true });
    // Another route of the same tenant is another entry.
    expect(await r.once({ tenantId: a, route: 'POST /others' }, 'k-1', { x: 1 }, c.make)).toMatchObject({ body: '{"run":3}', replayed: false });
    expect(c.runs()).toBe(3);
  });

  it('answers 409 while the first runs, keeps no 5xx, and lets a running claim go when its time is up', async () => {
    const a = tenant();
    const r = replies();
    let release!: () => void;
    const first = r.once({ tenantId: a, route: 'POST /slow' }, 'k', {}, () => new Promise<StoredReply>((res) => (release = () => res({ status: 201, contentType: null, body: 'ok' }))));
    await waitFor('the first attempt runs', async () => release !== undefined, 5_000, 5);
    await expect(r.once({ tenantId: a, route: 'POST /slow' }, 'k', {}, async () => ({ status: 201, contentType: null, body: 'twice' }))).rejects.toMatchObject({ status: 409, code: 'idempotency-in-progress' });
    release();
    expect(await first).toMatchObject({ body: 'ok', replayed: false });

    const c = counter();
    const failing = async (): Promise<StoredReply> => (await c.make(), { status: 503, contentType: null, body: 'down' });
    await r.once({ tenantId: a, route: 'POST /flaky' }, 'k', {}, failing);
    expect(await r.once({ tenantId: a, route: 'POST /flaky' }, 'k', {}, c.make)).toMatchObject({ status: 201, replayed: false });
    expect(c.runs()).toBe(2);

    // A claim whose holder died (never saved, never forgotten) ends with its time to live.
    const s = store();
    expect(await s.claim(a, 'POST /died', 'd1', '{"state":"running"}', 1)).toEqual({ taken: true });
    expect(await s.claim(a, 'POST /died', 'd1', '{"state":"running"}', 1)).toEqual({ taken: false, existing: '{"state":"running"}' });
    backing.advance(1_000);
    await waitFor('the claim expired', async () => (await backing.raw(`${tenantKeyPrefix(a)}idem:POST /died:d1`)) === undefined, 5_000, 50);
    expect(await s.claim(a, 'POST /died', 'd1', '{"state":"running"}', 60)).toEqual({ taken: true });
  });

  it('erases only the entries that hold the subject, of its tenant', async () => {
    const [a, b] = [tenant(), tenant()];
    const s = store();
    const entry = (email: string) => JSON.stringify({ state: 'done', fingerprint: 'f', reply: { status: 201, contentType: 'application/json', body: JSON.stringify({ customer: { email } }) } });
    await s.save(a, 'POST /tickets', 'd1', entry('ann@example.com'), 600);
    await s.save(a, 'POST /tickets', 'd2', entry('bob@example.com'), 600);
    await s.save(b, 'POST /tickets', 'd1', entry('ann@example.com'), 600);
    const holds = (raw: string) => raw.includes('ann@example.com');
    expect(await s.eraseWhere(a, 'POST /tickets', holds)).toBe(1);
    expect(await backing.raw(`${tenantKeyPrefix(a)}idem:POST /tickets:d1`)).toBeUndefined();
    expect(await backing.raw(`${tenantKeyPrefix(a)}idem:POST /tickets:d2`)).toBeDefined();
    expect(await backing.raw(`${tenantKeyPrefix(b)}idem:POST /tickets:d1`)).toBeDefined();
  });

  if (name === 'embedded')
    it('does not run a POST twice when it is repeated after a restart of the process', async () => {
      const a = tenant();
      const c = counter();
      expect(await replies().once({ tenantId: a, route: 'POST /operators' }, 'invite-1', { email: 'x@example.com' }, c.make)).toMatchObject({ replayed: false });
      backing.restart();
      expect(await replies().once({ tenantId: a, route: 'POST /operators' }, 'invite-1', { email: 'x@example.com' }, c.make)).toMatchObject({ body: '{"run":1}', replayed: true });
      expect(c.runs()).toBe(1);
      const digest = createHash('sha256').update('invite-1').digest('hex');
      expect(JSON.parse((await backing.raw(`${tenantKeyPrefix(a)}idem:POST /operators:${digest}`))!)).toMatchObject({ state: 'done' });
    });
});
