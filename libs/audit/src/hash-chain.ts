import { createHash } from 'node:crypto';

/** prev_hash of a tenant's first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The content of an audit entry that its hash covers (everything but the hashes themselves). */
export interface AuditEntryContent {
  id: string;
  tenantId: string;
  seq: number;
  eventId: string;
  eventType: string;
  actorId: string | null;
  occurredAt: string;
  recordedAt: string;
  payload: unknown;
}

/**
 * Canonical JSON: object keys sorted, no insignificant whitespace, so the same content always hashes
 * the same whatever order PostgreSQL's jsonb or a JavaScript object gives the keys back in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('cannot hash a non-finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
    .join(',')}}`;
}

/** hash = sha256(prev_hash ‖ "\n" ‖ canonical content), hex. */
export function chainHash(prevHash: string, content: AuditEntryContent): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(content)).digest('hex');
}
