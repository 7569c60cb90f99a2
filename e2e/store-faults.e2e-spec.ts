// Faults of every store: PostgreSQL, the Kafka broker, Redis and Weaviate are each stopped and
// started again (deploy/local/infra.sh, the real servers) while tickets flow in through the gateway at
// 20/s across 10 tenants, with every service of the support workflow running as its own process.
// A client whose POST fails retries it with the same externalId and Idempotency-Key, as integrations
// do. Afterwards: every ticket the platform accepted has exactly one outcome (its draft, or a
// draft.failed), counted once against its tenant's month, audited once (as are the drafts); no
// request was answered 500 (503 with Retry-After while the store was down); no service process died
// or was restarted; and the readiness of each service that uses the store reported it down while it
// lasted (liveness still up), and ready again after.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { Topics } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { WeaviateVectorStore } from '@hotdash/platform-vector';
import { createAccount, KafkaProbe, publishSettingsChanged, REPO_ROOT, ServiceProcess, startServices, TEST_PASSWORD, TestAccount, TestWorld, VectorNamespaces, waitFor } from '@hotdash/testing';

jest.setTimeout(600_000);

type Store = 'postgres' | 'kafka' | 'redis' | 'weaviate';
const TENANTS = 10;
const RATE = 20;
/** Tickets sent before the store stops, and after it is back. */
const PHASE_TICKETS = 40;
/** Tickets sent while the store is down (at 20/s: an outage of at least 5 s, longer than the retries of a job or an event). */
const OUTAGE_TICKETS = 100;

const SERVICES = {
  gateway: { entry: 'apps/gateway/src/main.ts', port: 3320 },
  drafts: { entry: 'apps/drafts/src/main.ts', port: 3321 },
  'ai-drafting': { entry: 'apps/ai-drafting/src/main.ts', port: 3322 },
  quota: { entry: 'apps/quota/src/main.ts', port: 3323 },
  knowledge: { entry: 'apps/knowledge/src/main.ts', port: 3324 },
  audit: { entry: 'apps/audit/src/main.ts', port: 3325 },
  relay: { entry: 'apps/relay/src/main.ts', port: 3326 },
} as const;
type ServiceName = keyof typeof SERVICES;
/** The services whose readiness checks the store (each checks only what it uses itself). */
const DEPENDENTS: Record<Store, ServiceName[]> = {
  postgres: ['gateway', 'drafts', 'ai-drafting', 'quota', 'knowledge', 'audit', 'relay'],
  kafka: ['drafts', 'ai-drafting', 'quota', 'knowledge', 'audit', 'relay'],
  redis: ['gateway', 'ai-drafting', 'knowledge'],
  weaviate: ['ai-drafting', 'knowledge'],
};
const url = (s: ServiceName): string => `http://127.0.0.1:${SERVICES[s].port}`;
const GATEWAY = url('gateway');

const world = new TestWorld();
const vectors = WeaviateVectorStore.fromConfig(world.config);
const namespaces = new VectorNamespaces(vectors);
const run = newId().slice(-8);
let processes: { name: ServiceName; process: ServiceProcess; pid: number }[] = [];
let accounts: (TestAccount & { token: string })[] = [];
let drafts: KafkaProbe;

/** Stops or starts one store (asynchronously: the tickets keep flowing meanwhile). */
async function infra(action: 'up' | 'down', store: Store): Promise<void> {
  await promisify(execFile)('bash', ['deploy/local/infra.sh', action, store], { cwd: REPO_ROOT, timeout: 120_000 }).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`infra.sh ${action} ${store} failed: ${err.message} ${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
}

interface Sent {
  externalId: string;
  tenant: TestAccount & { token: string };
  ticketId?: string;
  tries: number;
}

/** Tickets at a fixed rate, round-robin over the tenants; each retried until accepted (or its deadline). */
class TicketFlow {
  readonly sent: Sent[] = [];
  readonly refusals = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly label: string) {}

  start(): void {
    this.timer = setInterval(() => {
      const i = this.sent.length;
      const s: Sent = { externalId: `fault-${run}-${this.label}-${i}`, tenant: accounts[i % TENANTS]!, tries: 0 };
      this.sent.push(s);
      const p = this.send(s, newId()).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }, 1_000 / RATE);
  }

  accepted(): Sent[] {
    return this.sent.filter((s) => s.ticketId);
  }

  /** Waits until `n` more tickets were sent. */
  async sentMore(n: number): Promise<void> {
    const target = this.sent.length + n;
    await waitFor(`${n} more tickets sent`, async () => this.sent.length >= target, 60_000, 20);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private async send(s: Sent, key: string): Promise<void> {
    const deadline = Date.now() + 180_000;
    let wait = 200;
    for (;;) {
      s.tries++;
      let outcome: string;
      try {
        const res = await fetch(`${GATEWAY}/tickets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.tenant.token}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ externalId: s.externalId, customer: { name: 'Dana Fault', email: `dana-${s.externalId}@customer.test` }, subject: 'Refund', body: `How long does my refund take? ${s.externalId}` }),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        if (res.status === 201 || res.status === 200) {
          s.ticketId = (JSON.parse(text) as { id: string }).id;
          return;
        }
        outcome = `${res.status} ${(/"code":"([^"]+)"/.exec(text) ?? [])[1] ?? ''}`.trim();
      } catch (err) {
        outcome = (err as Error).name;
      }
      this.refusals.set(outcome, (this.refusals.get(outcome) ?? 0) + 1);
      if (Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 2_000);
    }
  }
}

async function login(acc: TestAccount): Promise<TestAccount & { token: string }> {
  const res = await fetch(`${GATEWAY}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: acc.slug, email: acc.email, password: TEST_PASSWORD }) });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return { ...acc, token: ((await res.json()) as { accessToken: string }).accessToken };
}

interface ReadinessBody {
  status: string;
  error: Record<string, { status: string; message?: string }>;
}

async function readiness(s: ServiceName): Promise<{ status: number; body: ReadinessBody }> {
  const res = await fetch(`${url(s)}/health/ready`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json()) as ReadinessBody };
}

/** Waits until every service that uses the store says it is not ready because of it (liveness still 200), or ready again. */
async function readinessReports(store: Store, state: 'down' | 'up'): Promise<void> {
  await Promise.all(
    DEPENDENTS[store].map((s) =>
      waitFor(
        `${s}'s readiness reporting ${store} ${state}`,
        async () => {
          const r = await readiness(s);
          if (state === 'up') return r.status === 200;
          const live = await fetch(`${url(s)}/health`).then((x) => x.status);
          return r.status === 503 && r.body.error[store]?.status === 'down' && live === 200;
        },
        60_000,
        100,
      ),
    ),
  );
}

/** Each accepted ticket's drafts (attempt 1), by ticket id. */
async function outcomes(sent: Sent[]): Promise<Map<string, string[]>> {
  const byTicket = new Map<string, string[]>();
  for (const acc of accounts) {
    const ids = sent.filter((s) => s.tenant === acc && s.ticketId).map((s) => s.ticketId!);
    if (!ids.length) continue;
    const rows = await world.tenantDb.withTenant(acc.tenantId, (tx) => tx.db.selectFrom('drafts').select(['ticket_id', 'status']).where('ticket_id', 'in', ids).where('attempt', '=', 1).execute());
    for (const r of rows) byTicket.set(r.ticket_id, [...(byTicket.get(r.ticket_id) ?? []), r.status]);
  }
  return byTicket;
}

interface Ledger {
  tickets: number;
  counted: number;
  audited: number;
  drafts: number;
  auditedDrafts: number;
}

/** Per tenant: tickets stored, counted by quota (this month) and audited (ticket.received); drafts stored and audited (draft.generated, draft.failed). */
async function ledger(acc: TestAccount): Promise<Ledger> {
  return world.tenantDb.withTenant(acc.tenantId, async (tx) => {
    const r = await sql<Ledger>`
      select (select count(*)::int from tickets) as tickets,
             (select coalesce(sum(used), 0)::int from quota_counters where metric = 'tickets') as counted,
             (select count(*)::int from audit_log where event_type = 'ticket.received') as audited,
             (select count(*)::int from drafts) as drafts,
             (select count(*)::int from audit_log where event_type in ('draft.generated', 'draft.failed')) as "auditedDrafts"`.execute(tx.db);
    return r.rows[0]!;
  });
}

beforeAll(async () => {
  const started = await startServices(
    (Object.keys(SERVICES) as ServiceName[]).map((name) => ({
      entry: SERVICES[name].entry,
      url: url(name),
      env: {
        [`HOTDASH_${name.toUpperCase().replace('-', '_')}_PORT`]: String(SERVICES[name].port),
        ...(name === 'gateway' ? { HOTDASH_DRAFTS_URL: url('drafts'), HOTDASH_QUOTA_URL: url('quota'), HOTDASH_KNOWLEDGE_URL: url('knowledge'), HOTDASH_AUDIT_URL: url('audit') } : {}),
        HOTDASH_KAFKA_SESSION_TIMEOUT_MS: '6000',
      },
    })),
  );
  processes = (Object.keys(SERVICES) as ServiceName[]).map((name, i) => ({ name, process: started[i]!, pid: started[i]!.child.pid! }));
  drafts = await KafkaProbe.start(Topics.DRAFTS, { from: 'end' });
  const made = await Promise.all(Array.from({ length: TENANTS }, () => createAccount(world, 'admin')));
  const plan = `faults-${run}`;
  const su = await world.connectSuperuser(world.config.db.controlDatabase);
  try {
    await su.query(`insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values ($1, 'Store faults e2e', 100000, 100000, 50, 1073741824)`, [plan]);
    await su.query('update tenants set plan_code = $1 where id = any($2::uuid[])', [plan, made.map((a) => a.tenantId)]);
  } finally {
    await su.end();
  }
  for (const acc of made) {
    await namespaces.create(acc.tenantId);
    await publishSettingsChanged(world, acc.tenantId, { companyName: 'Faults Co', brandVoice: 'Calm', policies: [] });
  }
  await waitFor(
    'the drafting profiles kept by ai-drafting',
    async () => {
      for (const acc of made) {
        const p = await world.tenantDb.withTenant(acc.tenantId, (tx) => tx.db.selectFrom('drafting_profiles').select('version').where('tenant_id', '=', acc.tenantId).executeTakeFirst());
        if (!p) return false;
      }
      return true;
    },
    60_000,
    200,
  );
  accounts = await Promise.all(made.map(login));
}, 240_000);

afterAll(async () => {
  // Whatever happened, the stores are up again for the specs after this one.
  for (const s of ['postgres', 'redis', 'kafka', 'weaviate'] as Store[]) await infra('up', s);
  await Promise.all(processes.map((p) => p.process.stop()));
  // What each service printed, for the reader of a failure.
  const logs = join(REPO_ROOT, '.local', 'logs', 'store-faults');
  mkdirSync(logs, { recursive: true });
  for (const p of processes) writeFileSync(join(logs, `${p.name}.log`), p.process.output());
  await drafts?.close();
  await namespaces.deleteAll();
  await vectors.close();
  await world.close();
}, 180_000);

describe.each<Store>(['postgres', 'kafka', 'redis', 'weaviate'])('%s stopped and started while tickets flow', (store) => {
  it('every accepted ticket gets one outcome, counted and audited once; no service restarts', async () => {
    const flow = new TicketFlow(store);
    flow.start();
    try {
      await flow.sentMore(PHASE_TICKETS);
      await infra('down', store);
      const outage = flow.sentMore(OUTAGE_TICKETS);
      await readinessReports(store, 'down');
      await outage;
      await infra('up', store);
      await readinessReports(store, 'up');
      await flow.sentMore(PHASE_TICKETS);
    } finally {
      await flow.stop();
      await infra('up', store);
    }
    const accepted = flow.accepted();
    console.log(`[faults] ${store}: ${flow.sent.length} sent, ${accepted.length} accepted; refusals ${JSON.stringify(Object.fromEntries(flow.refusals))}`);
    expect(accepted.length).toBe(flow.sent.length);
    // Refused while the store was down: with a 503 that says to retry, never a 500.
    expect([...flow.refusals.keys()].filter((r) => /^5/.test(r) && !/^503 /.test(r))).toEqual([]);

    const ids = accepted.map((s) => s.ticketId!);
    const done = await waitFor(
      `an outcome for each of ${ids.length} tickets`,
      async () => {
        const o = await outcomes(accepted);
        return ids.every((id) => o.has(id)) ? o : undefined;
      },
      120_000,
      500,
    ).catch(async (err: Error) => {
      const o = await outcomes(accepted);
      throw new Error(`${err.message}; ${ids.filter((id) => !o.has(id)).length} without an outcome`);
    });
    expect(ids.filter((id) => done.get(id)!.length !== 1)).toEqual([]);
    const byStatus = new Map<string, number>();
    for (const id of ids) byStatus.set(done.get(id)![0]!, (byStatus.get(done.get(id)![0]!) ?? 0) + 1);
    console.log(`[faults] ${store}: outcomes ${JSON.stringify(Object.fromEntries(byStatus))}`);
    expect([...byStatus.keys()].filter((s) => s !== 'pending' && s !== 'failed')).toEqual([]);

    // Counted once, audited once (quota and audit consume ticket.received; each has caught up when equal).
    for (const acc of accounts) {
      const l = await waitFor(`tenant ${acc.tenantId}'s tickets counted and audited`, async () => {
        const x = await ledger(acc);
        return x.counted >= x.tickets && x.audited >= x.tickets && x.auditedDrafts >= x.drafts ? x : undefined;
      }, 60_000, 500).catch(async () => ledger(acc));
      expect(l).toEqual({ tickets: l.tickets, counted: l.tickets, audited: l.tickets, drafts: l.drafts, auditedDrafts: l.drafts });
    }

    // One draft.generated or draft.failed record per draft on Kafka.
    const draftIds = new Set<string>();
    await waitFor('each outcome on Kafka', async () => {
      const seen = drafts.envelopes().filter((e) => ids.includes((e.payload as { ticketId?: string }).ticketId ?? ''));
      for (const e of seen) draftIds.add((e.payload as { draftId: string }).draftId);
      return draftIds.size >= ids.length;
    }, 60_000, 500);

    // No service process died (none was restarted: same pids, still running).
    for (const p of processes) expect({ name: p.name, pid: p.process.child.pid, exit: p.process.child.exitCode, signal: p.process.child.signalCode }).toEqual({ name: p.name, pid: p.pid, exit: null, signal: null });
  });
});
