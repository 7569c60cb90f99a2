import { derivedId, newId } from './ids';

describe('newId (UUIDv7)', () => {
  it('produces RFC 9562 version-7, variant-10 UUIDs', () => {
    for (let i = 0; i < 1000; i++) {
      expect(newId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('is strictly increasing within one process, even within one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => newId());
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('encodes the creation time in its first 48 bits', () => {
    const before = Date.now();
    const id = newId();
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now() + 5);
  });
});

describe('derivedId (UUIDv8 from a base id)', () => {
  it('is the same for the same base and purpose, different for another base or purpose, and a valid UUID', () => {
    const base = newId();
    const id = derivedId(base, 'draft-outcome');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(derivedId(base.toUpperCase(), 'draft-outcome')).toBe(id);
    expect(derivedId(base, 'other')).not.toBe(id);
    expect(derivedId(newId(), 'draft-outcome')).not.toBe(id);
    expect(id).not.toBe(base);
    // The base's milliseconds are kept.
    expect(id.slice(0, 13)).toBe(base.slice(0, 13));
    expect(() => derivedId('not-a-uuid', 'x')).toThrow(/not a UUID/);
  });
});
