import { createHash, randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;

// Random bytes are drawn 4 KiB at a time: one call into the CSPRNG per 227 ids instead of two per id
// (each call costs a few µs; ids are made for every row and event).
const pool = Buffer.allocUnsafe(4096);
let poolAt = pool.length;
function random(n: number): Buffer {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += n;
  return pool.subarray(poolAt - n, poolAt);
}

/**
 * A new UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps ids created in
 * the same millisecond by this process in order, then 62 random bits. Time-ordered (good index
 * locality) and globally unique, so rows keep their ids when a tenant moves between shards.
 */
export function newId(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = random(2).readUInt16BE(0) & 0x3ff; // start low so the counter rarely overflows
  } else {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      lastMs = ++ms; // borrow the next millisecond rather than break the order
      counter = 0;
    }
  }
  const b = random(16); // written in place: the pool never hands out the same bytes twice
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (counter >> 8);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The one id a fact about `baseId` gets, the same every time it is made (RFC 9562 UUIDv8): a job
 * that runs again after a crash, or two runs racing, write the same event id, so the outbox keeps
 * one row (its id is unique) and every consumer's inbox drops a copy. `purpose` keeps the ids of
 * different facts about one base apart. The base's first 48 bits are kept (a UUIDv7 base's
 * milliseconds: the derived ids sort as their bases do); the rest is SHA-256 of purpose and base.
 */
export function derivedId(baseId: string, purpose: string): string {
  const base = baseId.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(base)) throw new Error(`derivedId: ${JSON.stringify(baseId)} is not a UUID`);
  const b = createHash('sha256').update(`${purpose}\n${base}`).digest().subarray(0, 16);
  Buffer.from(base.slice(0, 12), 'hex').copy(b, 0);
  b[6] = 0x80 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
