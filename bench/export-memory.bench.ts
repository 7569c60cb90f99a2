/**
 * Memory of a data export (issue 16 item 4: "streamed, so memory stays flat for a tenant with
 * 1,000,000 rows, measured"): the project's path (provisioning's ExportsService.run: one snapshot,
 * readTenantRows a page at a time, FieldCipher decryption, JSON lines through gzip and AES-GCM to
 * the export store with back-pressure), then the download (decrypt, gunzip, every line read), for a
 * tenant of BENCH_ROWS tickets (1,000,000) against the same path for a tenant of BENCH_BASE_ROWS
 * (10,000) and against the process idle, in one run. RSS and V8 heap are sampled every 20 ms; the
 * bench prints each phase's peak and the ratios. Flat memory: the 1,000,000-row export's peak is
 * about the 10,000-row one's, whatever the 100× rows.
 *
 *   scripts/run node -r @swc-node/register bench/export-memory.bench.ts
 *
 * The rows are made by the database (generate_series: every ticket with the same FieldCipher
 * tokens, which decrypt, since a token binds the tenant and the field, not the row) and erased
 * afterwards (erase_tenant), with the export files. Not part of npm test.
 */
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import type { JobQueue } from '@hotdash/platform-jobs';
import { SupportFields, type TenantId } from '@hotdash/contracts';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import { ExportRunsRepository, ExportsService, ExportStore, exportFileKey, openExportFile, type ExportJob } from '@hotdash/provisioning';
import { TestWorld } from '@hotdash/testing';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BASE_ROWS = Number(process.env.BENCH_BASE_ROWS ?? 10_000);
const SAMPLE_MS = 20;
const MB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Peak {
  rss: number;
  heap: number;
  /** Heap in use right after a full GC, sampled every LIVE_MS: what the work really holds. */
  live: number;
  samples: number;
}

const LIVE_MS = 500;

/**
 * Runs `fn` while sampling RSS and heap every SAMPLE_MS, and the live heap (after a full GC) every
 * LIVE_MS; the peaks. A full GC first, so each phase starts from the same floor. Raw heap peaks
 * include garbage V8 has not collected yet (it lets the heap grow over a long run before a major
 * GC); the live heap is what the export holds.
 */
async function measured<T>(fn: () => Promise<T>): Promise<{ result: T; peak: Peak; ms: number }> {
  gc();
  const peak: Peak = { rss: 0, heap: 0, live: process.memoryUsage().heapUsed, samples: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heap = Math.max(peak.heap, m.heapUsed);
    peak.samples++;
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  const liveTimer = setInterval(() => {
    sample();
    gc();
    peak.live = Math.max(peak.live, process.memoryUsage().heapUsed);
  }, LIVE_MS);
  const t0 = performance.now();
  try {
    const result = await fn();
    sample();
    return { result, peak, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
    clearInterval(liveTimer);
  }
}

async function main(): Promise<void> {
  const world = new TestWorld();
  const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
  const cipher = new FieldCipher(keyring);
  const dir = mkdtempSync(join(tmpdir(), 'hotdash-export-bench-'));
  const store = new ExportStore(dir);
  const runs = new ExportRunsRepository(world.tenantDb);
  const noQueue = { add: async () => undefined } as unknown as JobQueue<ExportJob>;
  const exports = new ExportsService(runs, world.tenantDb, keyring, cipher, store, noQueue, {
    dir,
    linkTtlMs: 3_600_000,
    now: () => new Date(),
    queueName: 'unused',
    concurrency: 1,
    perTenant: 1,
    sweepEveryMs: 0,
    worker: false,
  });
  const tenants: TenantId[] = [];

  /** A tenant of `rows` tickets, made by the database in one statement. */
  async function tenantOf(rows: number): Promise<TenantId> {
    const t = (await world.createTenant(`export bench ${rows}`)).id;
    tenants.push(t);
    await world.createKey(t);
    const [name, email, body] = await Promise.all([
      cipher.encrypt(t, SupportFields.CUSTOMER_NAME, 'Dana Customer'),
      cipher.encrypt(t, SupportFields.CUSTOMER_EMAIL, 'dana@customer.test'),
      cipher.encrypt(t, SupportFields.BODY, 'Where is my order? It was due on Monday and the tracking page says nothing.'),
    ]);
    const t0 = performance.now();
    await world.tenantDb.withTenant(
      t,
      (tx) =>
        sql`insert into tickets (id, tenant_id, channel, customer_name_enc, customer_email_enc, body_enc, status, received_at)
            select gen_random_uuid(), ${t}::uuid, 'email', ${name}, ${email}, ${body}, 'pending', now() - make_interval(secs => n)
            from generate_series(1, ${rows}::int) n`.execute(tx.db),
      { timeoutMs: 30 * 60_000 },
    );
    console.log(`[export-memory] tenant of ${rows} tickets made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return t;
  }

  /** Export the tenant (the job's work), then download it, reading every line. */
  async function exportAndRead(t: TenantId): Promise<{ export: Awaited<ReturnType<typeof measured>>; download: Awaited<ReturnType<typeof measured<number>>>; bytes: number }> {
    const run = await runs.create(t, { id: newId(), kind: 'tenant', requestedBy: 'bench', subjectRef: null });
    const e = await measured(() => exports.run({ tenantId: t, exportId: run.id }));
    const done = (await runs.get(t, run.id))!;
    if (done.status !== 'succeeded') throw new Error(`the export ${run.id} is ${done.status}`);
    const d = await measured(async () => {
      const key = exportFileKey(await keyring.dataKey(t), run.id);
      const lines = createInterface({ input: openExportFile(await store.read(t, run.id, done.expiresAt!), key, run.id, done.sealing!), crlfDelay: Infinity });
      let rows = 0;
      for await (const line of lines) if (line.startsWith('{"type":"row","table":"tickets"')) rows++;
      return rows;
    });
    return { export: e, download: d, bytes: done.bytes! };
  }

  try {
    const idle = await measured(() => new Promise((r) => setTimeout(r, 1_000)));
    const small = await tenantOf(BASE_ROWS);
    const large = await tenantOf(ROWS);
    // Interleaved: small, large, small again (the second small run shows the floor after the large one).
    const s1 = await exportAndRead(small);
    const l = await exportAndRead(large);
    const s2 = await exportAndRead(small);
    if (l.download.result !== ROWS || s1.download.result !== BASE_ROWS) throw new Error(`read back ${l.download.result} / ${s1.download.result} ticket rows`);
    const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
    const line = (what: string, p: Peak, ms?: number) =>
      console.log(`${what.padEnd(34)} peak RSS ${mb(p.rss).padStart(9)}   peak heap ${mb(p.heap).padStart(8)}   live heap ${mb(p.live).padStart(8)}${ms === undefined ? '' : `   ${(ms / 1000).toFixed(1)} s`}`);
    console.log(`\n[export-memory] tickets: baseline tenant ${BASE_ROWS}, large tenant ${ROWS}; samples every ${SAMPLE_MS} ms, live heap (after a full GC) every ${LIVE_MS} ms`);
    line('idle (1 s)', idle.peak);
    line(`export ${BASE_ROWS} rows`, s1.export.peak, s1.export.ms);
    line(`export ${ROWS} rows`, l.export.peak, l.export.ms);
    line(`export ${BASE_ROWS} rows (again)`, s2.export.peak, s2.export.ms);
    line(`download ${BASE_ROWS} rows`, s1.download.peak, s1.download.ms);
    line(`download ${ROWS} rows`, l.download.peak, l.download.ms);
    const ratio = (x: number, y: number) => `×${(x / y).toFixed(2)}`;
    console.log(`\nexport file: ${mb(l.bytes)} stored for ${ROWS} rows (${mb(s1.bytes)} for ${BASE_ROWS})`);
    console.log(`export ${ROWS} / ${BASE_ROWS} rows (rows ×${(ROWS / BASE_ROWS).toFixed(0)}): live heap ${ratio(l.export.peak.live, s1.export.peak.live)}, peak heap ${ratio(l.export.peak.heap, s1.export.peak.heap)}, peak RSS ${ratio(l.export.peak.rss, s1.export.peak.rss)}`);
    console.log(`export ${ROWS} rows / idle: live heap ${ratio(l.export.peak.live, idle.peak.live)}, peak RSS ${ratio(l.export.peak.rss, idle.peak.rss)}`);
    console.log(`download ${ROWS} / ${BASE_ROWS} rows: live heap ${ratio(l.download.peak.live, s1.download.peak.live)}, peak heap ${ratio(l.download.peak.heap, s1.download.peak.heap)}, peak RSS ${ratio(l.download.peak.rss, s1.download.peak.rss)}`);
    console.log(`throughput: ${Math.round(ROWS / (l.export.ms / 1000))} rows/s exported, ${Math.round(ROWS / (l.download.ms / 1000))} rows/s read back`);
  } finally {
    for (const t of tenants) await world.tenantDb.withTenant(t, (tx) => sql`select erase_tenant(${t}::uuid)`.execute(tx.db), { timeoutMs: 30 * 60_000 }).catch((err: Error) => console.error(`[export-memory] clean-up of ${t}: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
    await world.close();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
