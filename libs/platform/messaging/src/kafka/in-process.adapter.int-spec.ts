// The in-process bus (the embedded mode's Kafka port, issue 18) on its own: durability across a
// restart (a new client on the same directory) and across SIGKILL of a process producing and
// consuming, a torn write cut off at start, the group's partitions shared among its members and
// handed over when one leaves, commits only after the handler resolved, retention, concurrent
// producers, the partitioner Kafka's. The contract specs run it beside the Kafka clients
// (event-transport, dead-letters, group-start, ping, consumer-lag, relay).
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as nodePath from 'node:path';
import { Partitioners } from 'kafkajs';
import { startProcess, waitFor } from '@hotdash/testing';
import { InProcessKafkaClient, InProcessBusOptions, partitionOfKey } from './in-process.adapter';
import type { IncomingRecord, KafkaClientPort } from './kafka.port';

jest.setTimeout(30_000);

const dirs: string[] = [];
const clients: KafkaClientPort[] = [];
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await fs.mkdtemp(nodePath.join(tmpdir(), 'hotdash-bus-spec-'));
  dirs.push(dir);
  return dir;
}

function client(directory: string, extra: Partial<InProcessBusOptions> = {}): InProcessKafkaClient {
  const c = new InProcessKafkaClient({ clientId: 'bus-spec', directory, ...extra });
  clients.push(c);
  return c;
}

const text = (rs: IncomingRecord[]) => rs.map((r) => r.value.toString('utf8'));

async function readAll(c: KafkaClientPort, topic: string): Promise<IncomingRecord[][]> {
  const out: IncomingRecord[][] = [];
  for (const b of await c.offsets(topic)) out.push(await c.readRange(topic, b.partition, b.low, Number(b.high) - Number(b.low) + 1));
  return out;
}

it('keeps acknowledged records and committed offsets across a restart, and cuts a torn write off at start', async () => {
  const dir = await newDir();
  const first = client(dir, { topics: [{ topic: 'orders', partitions: 3 }] });
  const producer = await first.producer();
  await producer.send(Array.from({ length: 30 }, (_, i) => ({ topic: 'orders', key: `tenant-${i % 5}`, value: `r${i} ünïcode\nline`, headers: { 'x-n': String(i) } })));
  const before = await readAll(first, 'orders');
  expect(before.flat()).toHaveLength(30);
  // Each key's records on one partition, in the order sent.
  for (const part of before) {
    const byKey = new Map<string, number[]>();
    for (const r of part) byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), Number(r.headers['x-n'])]);
    for (const ns of byKey.values()) expect(ns).toEqual([...ns].sort((x, y) => x - y));
  }
  // A group handles some of them and stops: its commits are on disk.
  const handled: IncomingRecord[] = [];
  const consumer = await first.consumer({ groupId: 'g', topics: ['orders'], fromBeginning: true, maxBatch: 4 });
  await consumer.run(async (rs) => void handled.push(...rs));
  await waitFor('all 30 handled', async () => handled.length === 30);
  await consumer.close();
  await first.close();

  // A damaged tail of a partition's log: a whole line at the right offset whose checksum is wrong
  // (garbage a crash left), then half a record without its newline (a write torn by a kill).
  const busy = before.findIndex((p) => p.length > 0);
  const log = nodePath.join(dir, 'topics', 'orders', String(busy), '00000000000000000000.log');
  const intact = (await fs.stat(log)).size;
  const torn = `00000000 ${before[busy]!.length} 1733 ["tenant-0","v",{}]\n1c2d3e4f ${before[busy]!.length + 1} 1733 ["tenant-0","half a rec`;
  await fs.appendFile(log, torn);

  const second = client(dir);
  expect(await second.recoveries()).toEqual([expect.stringContaining(`orders/${busy}: cut ${torn.length} byte(s) of a torn write`)]);
  expect((await fs.stat(log)).size).toBe(intact);
  const after = await readAll(second, 'orders');
  expect(after.map((p) => p.map((r) => ({ o: r.offset, k: r.key, v: r.value.toString('utf8'), h: r.headers })))).toEqual(
    before.map((p) => p.map((r) => ({ o: r.offset, k: r.key, v: r.value.toString('utf8'), h: r.headers }))),
  );
  // The log goes on after the cut, at the next offset.
  const p2 = await second.producer();
  const key = before[busy]![0]!.key!;
  await p2.send([{ topic: 'orders', key, value: 'after the cut', headers: {} }]);
  expect((await second.offsets('orders'))[busy]).toEqual({ partition: busy, low: '0', high: String(before[busy]!.length + 1) });
  // The group resumes after what it handled: only the new record.
  const again: IncomingRecord[] = [];
  const resumed = await second.consumer({ groupId: 'g', topics: ['orders'], fromBeginning: true });
  await resumed.run(async (rs) => void again.push(...rs));
  await waitFor('the new record', async () => again.length >= 1);
  await p2.send([{ topic: 'orders', key: 'sentinel', value: 'sentinel', headers: {} }]);
  await waitFor('the sentinel', async () => text(again).includes('sentinel'));
  expect(text(again)).toEqual(['after the cut', 'sentinel']);
  await second.close();
});

it('loses no acknowledged record and skips nothing for its group when the process is killed with SIGKILL, twice', async () => {
  const dir = await newDir();
  const logFile = nodePath.join(dir, 'child.log');
  const busDir = nodePath.join(dir, 'bus');
  for (let round = 0; round < 2; round++) {
    const child = startProcess('libs/platform/messaging/src/kafka/in-process.child.ts', { BUS_CHILD_DIR: busDir, BUS_CHILD_LOG: logFile });
    try {
      const acked = () => (readFileSync(logFile, 'utf8').match(/^acked /gm) ?? []).length;
      const start = await waitFor('the child producing', async () => {
        if (child.child.exitCode !== null) throw new Error(`the child exited: ${child.output()}`);
        return readFileSync(logFile, 'utf8').includes('ready') ? acked() + 1 : undefined;
      }, 20_000, 20);
      await waitFor('a few hundred records acknowledged', async () => acked() >= start + 300, 20_000, 20);
    } finally {
      await child.kill();
    }
  }
  const lines = readFileSync(logFile, 'utf8').split('\n');
  const acked = lines.filter((l) => l.startsWith('acked ')).map((l) => l.slice(6));
  const handledBefore = new Set(lines.filter((l) => l.startsWith('handled ')).map((l) => l.slice(8)));
  // Two processes did the work (the second took the dead one's lock over), each acknowledged and handled records.
  expect(new Set(acked.map((v) => v.split('-')[0])).size).toBe(2);
  expect(acked.length).toBeGreaterThanOrEqual(600);
  expect(new Set([...handledBefore].map((v) => v.split('-')[0])).size).toBe(2);
  const bus = client(busDir);
  const stored = (await readAll(bus, 'kill-test')).flat();
  const storedValues = new Set(text(stored));
  expect(acked.filter((v) => !storedValues.has(v))).toEqual([]);
  // The group resumes from its committed offsets: what it handled before, with what it gets now, is everything stored.
  const handledAfter: string[] = [];
  const consumer = await bus.consumer({ groupId: 'kill-group', topics: ['kill-test'], fromBeginning: true, maxBatch: 500 });
  await consumer.run(async (rs) => void handledAfter.push(...text(rs)));
  const producer = await bus.producer();
  await producer.send([0, 1, 2, 3, 4, 5, 6, 7].map((k) => ({ topic: 'kill-test', key: `key-${k}`, value: `sentinel-${k}`, headers: {} })));
  await waitFor('the sentinels', async () => handledAfter.filter((v) => v.startsWith('sentinel')).length === 8);
  expect(text(stored).filter((v) => !handledBefore.has(v) && !handledAfter.includes(v))).toEqual([]);
  await bus.close();
});

it('shares a group’s partitions among its members, hands them over when one leaves, and never gives a partition to two at once', async () => {
  const dir = await newDir();
  const c = client(dir, { topics: [{ topic: 'shared', partitions: 4 }] });
  const producer = await c.producer();
  const seen = new Map<string, { member: number; partition: number; value: string }[]>();
  let inFlight = new Map<number, number>();
  let overlaps = 0;
  const member = async (n: number) => {
    const consumer = await c.consumer({ groupId: 'members', topics: ['shared'], fromBeginning: true, maxBatch: 5 });
    await consumer.run(async (rs) => {
      const parts = [...new Set(rs.map((r) => r.partition))];
      for (const p of parts) {
        if (inFlight.has(p)) overlaps++;
        inFlight.set(p, n);
      }
      await new Promise((r) => setTimeout(r, 2));
      for (const p of parts) inFlight.delete(p);
      for (const r of rs) seen.set(r.key!, [...(seen.get(r.key!) ?? []), { member: n, partition: r.partition, value: r.value.toString('utf8') }]);
    });
    return consumer;
  };
  const m1 = await member(1);
  const m2 = await member(2);
  const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
  const sendRound = (round: number) => producer.send(keys.map((k) => ({ topic: 'shared', key: k, value: `${round}`, headers: {} })));
  for (let round = 0; round < 5; round++) await sendRound(round);
  await waitFor('every record handled', async () => keys.every((k) => (seen.get(k)?.length ?? 0) === 5));
  // Each partition to one member, both members used.
  const owners = new Map<number, Set<number>>();
  for (const list of seen.values()) for (const s of list) owners.set(s.partition, new Set([...(owners.get(s.partition) ?? []), s.member]));
  expect([...owners.values()].every((o) => o.size === 1)).toBe(true);
  expect(new Set([...owners.values()].flatMap((o) => [...o]))).toEqual(new Set([1, 2]));
  await m1.close();
  for (let round = 5; round < 8; round++) await sendRound(round);
  await waitFor('the rounds after the first member left', async () => keys.every((k) => (seen.get(k)?.length ?? 0) === 8));
  expect([...seen.values()].flatMap((l) => l.slice(5)).every((s) => s.member === 2)).toBe(true);
  // Exactly once each here (nothing failed), in each key's order.
  for (const list of seen.values()) expect(list.map((s) => s.value)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
  expect(overlaps).toBe(0);
  inFlight = new Map();
  await m2.close();
});

it('commits only after the handler resolved: a rejection commits nothing of the batch, is reported, and the batch comes again; close commits what was handled', async () => {
  const dir = await newDir();
  const c = client(dir, { topics: [{ topic: 'flaky', partitions: 1 }] });
  const producer = await c.producer();
  await producer.send(Array.from({ length: 6 }, (_, i) => ({ topic: 'flaky', key: 'k', value: `v${i}`, headers: {} })));
  const batches: string[][] = [];
  const errors: string[] = [];
  let failures = 1;
  const consumer = await c.consumer({ groupId: 'flaky-group', topics: ['flaky'], fromBeginning: true, maxBatch: 4, onError: (e) => errors.push(e.message) });
  await consumer.run(async (rs) => {
    batches.push(text(rs));
    if (rs[0]!.value.toString() === 'v4' && failures-- > 0) throw new Error('the database is down');
  });
  await waitFor('the failed batch delivered again', async () => batches.length === 3, 10_000, 20);
  expect(batches).toEqual([
    ['v0', 'v1', 'v2', 'v3'],
    ['v4', 'v5'],
    ['v4', 'v5'],
  ]);
  expect(errors).toEqual(['the database is down']);
  await consumer.close();
  // What was handled is committed (and on disk): a new client's member of the group starts after it.
  await c.close();
  const c2 = client(dir);
  const later: string[] = [];
  const resumed = await c2.consumer({ groupId: 'flaky-group', topics: ['flaky'], fromBeginning: true });
  await resumed.run(async (rs) => void later.push(...text(rs)));
  await (await c2.producer()).send([{ topic: 'flaky', key: 'k', value: 'v6', headers: {} }]);
  await waitFor('v6', async () => later.includes('v6'));
  expect(later).toEqual(['v6']);
  // A new "latest" group starts at the end as it was when it was created: decided once.
  const latest: string[] = [];
  const fresh = await c2.consumer({ groupId: 'latest-group', topics: ['flaky'], fromBeginning: false });
  await (await c2.producer()).send([{ topic: 'flaky', key: 'k', value: 'v7', headers: {} }]);
  await fresh.run(async (rs) => void latest.push(...text(rs)));
  await waitFor('v7', async () => latest.includes('v7'));
  expect(latest).toEqual(['v7']);
  await c2.close();
});

it('removes old segments past the retention bound; readRange skips ahead, a group behind resumes at the first offset and says so', async () => {
  const dir = await newDir();
  const c = client(dir, { topics: [{ topic: 'bounded', partitions: 1 }], retentionBytes: 4_000, segmentBytes: 1_000 });
  const errors: string[] = [];
  // A group pinned at offset 0 that does not consume yet.
  const behind = await c.consumer({ groupId: 'behind', topics: ['bounded'], fromBeginning: true, onError: (e) => errors.push(e.message) });
  const producer = await c.producer();
  for (let i = 0; i < 200; i++) await producer.send([{ topic: 'bounded', key: 'k', value: `record ${i} ${'x'.repeat(40)}`, headers: {} }]);
  const [bounds] = await c.offsets('bounded');
  expect(Number(bounds!.high)).toBe(200);
  expect(Number(bounds!.low)).toBeGreaterThan(100);
  const files = await fs.readdir(nodePath.join(dir, 'topics', 'bounded', '0'));
  const bytes = (await Promise.all(files.map((f) => fs.stat(nodePath.join(dir, 'topics', 'bounded', '0', f))))).reduce((n, s) => n + s.size, 0);
  expect(bytes).toBeLessThanOrEqual(4_000 + 1_100);
  const read = await c.readRange('bounded', 0, '0', 3);
  expect(read.map((r) => r.offset)).toEqual([bounds!.low, String(Number(bounds!.low) + 1), String(Number(bounds!.low) + 2)]);
  expect(read[0]!.value.toString()).toMatch(new RegExp(`^record ${bounds!.low} `));
  const got: string[] = [];
  await behind.run(async (rs) => void got.push(...rs.map((r) => r.offset)));
  await waitFor('the rest handled', async () => got.includes('199'));
  expect(got[0]).toBe(bounds!.low);
  expect(errors).toEqual([expect.stringMatching(new RegExp(`records 0–${Number(bounds!.low) - 1} of bounded/0 were removed by retention`))]);
  await behind.close();
  // After a restart: the same bounds and records (the sealed segments indexed when first read).
  const kept = text(await c.readRange('bounded', 0, '0', 500));
  expect(kept).toHaveLength(200 - Number(bounds!.low));
  await c.close();
  const c2 = client(dir, { retentionBytes: 4_000, segmentBytes: 1_000 });
  expect(await c2.offsets('bounded')).toEqual([bounds]);
  expect(text(await c2.readRange('bounded', 0, '0', 500))).toEqual(kept);
  expect(text(await c2.readRange('bounded', 0, String(Number(bounds!.low) + 5), 2))).toEqual(kept.slice(5, 7));
  await c2.close();
});

it('keeps every concurrent producer’s records, each send’s in its order, at contiguous offsets; partitions as Kafka’s default partitioner does', async () => {
  const dir = await newDir();
  const c = client(dir, { topics: [{ topic: 'busy', partitions: 2 }] });
  const producers = await Promise.all(Array.from({ length: 8 }, () => c.producer()));
  await Promise.all(producers.map(async (p, n) => {
    for (let i = 0; i < 25; i++) await p.send([0, 1].map((j) => ({ topic: 'busy', key: 'one-key', value: `${n}:${i}:${j}`, headers: {} })));
  }));
  const part = partitionOfKey('one-key', 2);
  const [records] = (await readAll(c, 'busy')).filter((p) => p.length > 0);
  expect(records!.map((r) => r.offset)).toEqual(Array.from({ length: 400 }, (_, i) => String(i)));
  expect(records![0]!.partition).toBe(part);
  for (let n = 0; n < 8; n++) {
    const mine = text(records!).filter((v) => v.startsWith(`${n}:`));
    expect(mine).toEqual(Array.from({ length: 50 }, (_, k) => `${n}:${Math.floor(k / 2)}:${k % 2}`));
  }
  // The same partition as a Kafka producer's for the same key (a tenant keeps its partition when moved to the stack).
  const kafkaPartitioner = Partitioners.DefaultPartitioner();
  for (const key of ['', 'a', 'tenant', '0190f5a2-7c1e-7aa0-b1d2-3c4d5e6f7a8b', 'ünïcode-key']) {
    for (const n of [1, 3, 6, 12]) {
      const partitionMetadata = Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
      expect([key, n, partitionOfKey(key, n)]).toEqual([key, n, kafkaPartitioner({ topic: 't', partitionMetadata, message: { key, value: 'v' } })]);
    }
  }
  await expect(producers[0]!.send([{ topic: 'no-such-topic', key: 'k', value: 'v', headers: {} }])).rejects.toThrow(/no topic "no-such-topic"/);
  await expect(producers[0]!.send([{ topic: 'busy', key: 'k', value: 'x'.repeat(1_100_000), headers: {} }])).rejects.toThrow(/exceeds/);
});

it('refuses a directory another live process holds', async () => {
  const dir = await newDir();
  await fs.writeFile(nodePath.join(dir, 'LOCK'), String(process.ppid));
  await expect(client(dir).ping()).rejects.toThrow(`in use by process ${process.ppid}`);
});
