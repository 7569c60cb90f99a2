import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { z } from 'zod';
import { OperatorRole, OperatorRoles, TenantId } from '@hotdash/contracts';
import { API_KEY_SCOPES, ApiKeyVerifier, newTenantSecret, Permission, Principal, ROLE_PERMISSIONS, tenantOfSecret, tokenHash } from '@hotdash/platform-auth';
import { newId, TenantDatabase, TenantNotPlacedError } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';

/** API keys: `hdk_<tenant id>.<256 random bits>`; the prefix lets secret scanners recognise them. */
export const API_KEY_PREFIX = 'hdk_';

export const createApiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    role: z.enum(OperatorRoles).optional(),
    scopes: z
      .array(z.enum(API_KEY_SCOPES as [Permission, ...Permission[]], { message: `each scope must be one of: ${API_KEY_SCOPES.join(', ')}` }))
      .min(1)
      .max(API_KEY_SCOPES.length),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export interface ApiKeyDto {
  id: string;
  name: string;
  prefix: string;
  role: OperatorRole;
  scopes: string[];
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface Row {
  id: string;
  name: string;
  prefix: string;
  role: OperatorRole;
  scopes: string[];
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** The columns a key is shown with. */
const COLUMNS = ['id', 'name', 'prefix', 'role', 'scopes', 'created_by', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'] as const;

const dto = (r: Row): ApiKeyDto => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  role: r.role,
  scopes: r.scopes,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at?.toISOString() ?? null,
  lastUsedAt: r.last_used_at?.toISOString() ?? null,
  revokedAt: r.revoked_at?.toISOString() ?? null,
});

/** Keys for integrations: shown once, stored as a hash, scoped, revocable with immediate effect. */
@Injectable()
export class ApiKeysService extends ApiKeyVerifier {
  constructor(@Inject(TenantDatabase) private readonly db: TenantDatabase) {
    super();
  }

  /**
   * Creates a key. With an idempotency key, a retry answers the key made the first time — without
   * its secret, which exists only in the first answer (`replayed: true`, `key: null`); the same
   * idempotency key with another request is a 422.
   */
  async create(p: Principal, body: unknown, idempotencyKey?: string): Promise<ApiKeyDto & { key: string | null; replayed: boolean }> {
    const input = parseInput(createApiKeyBody, body, (path) => (path.startsWith('scopes') ? 'invalid-scope' : path === 'role' ? 'invalid-role' : undefined));
    const role = input.role ?? 'operator';
    const outside = input.scopes.filter((s) => !ROLE_PERMISSIONS[role].has(s));
    if (outside.length) throw new ProblemException(400, 'invalid-scope', 'Scope outside the role', `A key with role ${role} cannot have: ${outside.join(', ')}.`);
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new ProblemException(400, 'validation-failed', 'Invalid request', 'expiresAt must be in the future.');
    const key = newTenantSecret(p.tenantId, API_KEY_PREFIX);
    const id = newId();
    const prefix = key.slice(0, API_KEY_PREFIX.length + 8);
    const scopes = [...new Set(input.scopes)];
    const { row, replayed } = await this.db.withTenant(p.tenantId, async (tx) => {
      const inserted = await tx.db
        .insertInto('api_keys')
        .values({
          id,
          tenant_id: p.tenantId,
          name: input.name,
          prefix,
          key_hash: tokenHash(key),
          role,
          scopes,
          created_by: p.subject,
          expires_at: expiresAt,
          idempotency_key: idempotencyKey ?? null,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'idempotency_key']).doNothing())
        .returning(COLUMNS)
        .$narrowType<{ role: OperatorRole }>()
        .executeTakeFirst();
      if (inserted) return { row: inserted, replayed: false };
      const first = await tx.db
        .selectFrom('api_keys')
        .select(COLUMNS)
        .where('idempotency_key', '=', idempotencyKey ?? null)
        .$narrowType<{ role: OperatorRole }>()
        .executeTakeFirstOrThrow();
      return { row: first, replayed: true };
    });
    if (replayed && (row.name !== input.name || row.role !== role || [...row.scopes].sort().join() !== [...scopes].sort().join()))
      throw new ProblemException(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was used for a different key; use a new Idempotency-Key for a new key.');
    return { ...dto(row), key: replayed ? null : key, replayed };
  }

  async list(p: Principal): Promise<ApiKeyDto[]> {
    const rows = await this.db.readOnce(p.tenantId, (db) => db.selectFrom('api_keys').select(COLUMNS).orderBy('created_at').$narrowType<{ role: OperatorRole }>());
    return rows.map(dto);
  }

  /** Revokes a key: the next request with it is refused. Another tenant's key answers 404 like a missing one. */
  async revoke(p: Principal, id: string): Promise<void> {
    const { numUpdatedRows } = await this.db.withTenant(p.tenantId, (tx) =>
      tx.db
        .updateTable('api_keys')
        .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', sql<Date>`now()`) }))
        .where('id', '=', id)
        .executeTakeFirst(),
    );
    if (numUpdatedRows === 0n) throw notFound(`API key ${id}`);
  }

  async verify(key: string): Promise<Principal | undefined> {
    const tenantId = tenantOfSecret(key, API_KEY_PREFIX);
    if (!tenantId) return undefined;
    try {
      return await this.db.withTenant(tenantId, async (tx) => {
        // last_used_at is written at most once a minute per key, not on every request.
        const row = await tx.db
          // A key acts for the admin who made it: removed or no longer an admin, the key stops too.
          .with('k', (db) =>
            db
              .selectFrom('api_keys as ak')
              .innerJoin('users as u', 'u.id', 'ak.created_by')
              .select(['ak.id', 'ak.role', 'ak.scopes', 'ak.last_used_at'])
              .where('ak.key_hash', '=', tokenHash(key))
              .where('ak.revoked_at', 'is', null)
              .where((eb) => eb.or([eb('ak.expires_at', 'is', null), eb('ak.expires_at', '>', sql<Date>`now()`)]))
              .where('u.status', '=', 'active')
              .where('u.role', '=', 'admin'),
          )
          .with('used', (db) =>
            db
              .updateTable('api_keys')
              .set({ last_used_at: sql`now()` })
              .where('id', '=', (eb) => eb.selectFrom('k').select('id'))
              .where(sql<boolean>`coalesce((select last_used_at from k), '-infinity') < now() - interval '1 minute'`),
          )
          .selectFrom('k')
          .select(['id', 'role', 'scopes'])
          .$narrowType<{ role: OperatorRole }>()
          .executeTakeFirst();
        if (!row) return undefined;
        return { kind: 'api-key' as const, tenantId: tenantId as TenantId, subject: row.id, role: row.role, sessionId: null, scopes: row.scopes, issuedAt: Date.now(), tokenId: row.id };
      });
    } catch (err) {
      if (err instanceof TenantNotPlacedError) return undefined;
      throw err;
    }
  }
}
