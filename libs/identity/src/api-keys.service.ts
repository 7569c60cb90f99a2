import { Inject, Injectable } from '@nestjs/common';
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
      const [inserted] = await tx.$queryRaw<Row[]>`insert into api_keys (id, tenant_id, name, prefix, key_hash, role, scopes, created_by, expires_at, idempotency_key)
        values (${id}::uuid, ${p.tenantId}::uuid, ${input.name}, ${prefix}, ${tokenHash(key)}, ${role}, ${scopes}::text[], ${p.subject}::uuid, ${expiresAt}, ${idempotencyKey ?? null})
        on conflict (tenant_id, idempotency_key) do nothing
        returning id::text, name, prefix, role, scopes, created_by::text, created_at, expires_at, last_used_at, revoked_at`;
      if (inserted) return { row: inserted, replayed: false };
      const [first] = await tx.$queryRaw<Row[]>`select id::text, name, prefix, role, scopes, created_by::text, created_at, expires_at, last_used_at, revoked_at
        from api_keys where idempotency_key = ${idempotencyKey ?? null}`;
      return { row: first!, replayed: true };
    });
    if (replayed && (row.name !== input.name || row.role !== role || [...row.scopes].sort().join() !== [...scopes].sort().join()))
      throw new ProblemException(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was used for a different key; use a new Idempotency-Key for a new key.');
    return { ...dto(row), key: replayed ? null : key, replayed };
  }

  async list(p: Principal): Promise<ApiKeyDto[]> {
    const rows = await this.db.withTenant(p.tenantId, (tx) =>
      tx.$queryRaw<Row[]>`select id::text, name, prefix, role, scopes, created_by::text, created_at, expires_at, last_used_at, revoked_at from api_keys order by created_at`,
    );
    return rows.map(dto);
  }

  /** Revokes a key: the next request with it is refused. Another tenant's key answers 404 like a missing one. */
  async revoke(p: Principal, id: string): Promise<void> {
    const n = await this.db.withTenant(p.tenantId, (tx) => tx.$executeRaw`update api_keys set revoked_at = coalesce(revoked_at, now()) where id = ${id}::uuid`);
    if (n === 0) throw notFound(`API key ${id}`);
  }

  async verify(key: string): Promise<Principal | undefined> {
    const tenantId = tenantOfSecret(key, API_KEY_PREFIX);
    if (!tenantId) return undefined;
    try {
      return await this.db.withTenant(tenantId, async (tx) => {
        // last_used_at is written at most once a minute per key, not on every request.
        const [row] = await tx.$queryRaw<{ id: string; role: OperatorRole; scopes: string[] }[]>`
          with k as (
            -- A key acts for the admin who made it: removed or no longer an admin, the key stops too.
            select k.id, k.role, k.scopes, k.last_used_at from api_keys k join users u on u.id = k.created_by
            where k.key_hash = ${tokenHash(key)} and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
              and u.status = 'active' and u.role = 'admin'
          ), used as (
            update api_keys set last_used_at = now() where id = (select id from k) and coalesce((select last_used_at from k), '-infinity') < now() - interval '1 minute'
          )
          select id::text, role, scopes from k`;
        if (!row) return undefined;
        return { kind: 'api-key' as const, tenantId: tenantId as TenantId, subject: row.id, role: row.role, sessionId: null, scopes: row.scopes, issuedAt: Date.now(), tokenId: row.id };
      });
    } catch (err) {
      if (err instanceof TenantNotPlacedError) return undefined;
      throw err;
    }
  }
}
