import { canonicalJson, chainHash, GENESIS_HASH, AuditEntryContent } from './hash-chain';

const entry: AuditEntryContent = {
  id: '01a2233e-13de-71a6-af01-2c9e62e66eb5',
  tenantId: '01a2233e-13de-71a6-af01-2c9e62e66eb6',
  seq: 1,
  eventId: '01a2233e-13de-71a6-af01-2c9e62e66eb7',
  eventType: 'tenant.created',
  actorId: 'ops:alice',
  occurredAt: '2026-11-28T17:40:00.669Z',
  recordedAt: '2026-11-28T17:40:00.700Z',
  payload: { b: [1, { y: 2, x: 1 }], a: 'é', n: null },
};

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 2], c: null } })).toBe('{"a":{"c":null,"d":[3,2]},"b":1}');
  });
  it('is independent of key insertion order', () => {
    expect(canonicalJson({ x: 1, y: { a: 1, b: 2 } })).toBe(canonicalJson({ y: { b: 2, a: 1 }, x: 1 }));
  });
  it('drops undefined members like JSON does and refuses non-finite numbers', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
  });
});

describe('chainHash', () => {
  it('is a sha256 hex digest, stable for the same content', () => {
    const h = chainHash(GENESIS_HASH, entry);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(chainHash(GENESIS_HASH, { ...entry, payload: { n: null, a: 'é', b: [1, { x: 1, y: 2 }] } })).toBe(h);
  });
  it('changes with the previous hash and with any field of the content', () => {
    const h = chainHash(GENESIS_HASH, entry);
    expect(chainHash('f'.repeat(64), entry)).not.toBe(h);
    for (const change of [{ seq: 2 }, { actorId: 'ops:mallory' }, { payload: { ...(entry.payload as object), a: 'e' } }, { occurredAt: '2026-11-28T17:40:00.670Z' }]) {
      expect(chainHash(GENESIS_HASH, { ...entry, ...change })).not.toBe(h);
    }
  });
});
