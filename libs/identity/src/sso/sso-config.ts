import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { z } from 'zod';
import { OperatorRole, OperatorRoles, TenantId } from '@hotdash/contracts';
import { FieldCipher } from '@hotdash/platform-crypto';
import { TenantDatabase, TenantTx } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { insecureIssuersAllowed, ProviderClient, SsoProviders, ssoRedirectUri } from './sso-provider';

/** The field name bound into the client secret's encryption (FieldCipher's additional data). */
export const SSO_SECRET_FIELD = 'sso_configs.client_secret';

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

const issuer = z
  .string()
  .max(500)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash && !u.username && !u.password;
    } catch {
      return false;
    }
  }, 'not an http(s) URL without query, fragment or credentials');

/** PUT /sso: the tenant's OpenID Connect provider. */
export const ssoConfigBody = z
  .object({
    /** The provider's issuer identifier, exactly as its discovery document names it. */
    issuer,
    clientId: z.string().min(1).max(200),
    /** Write-only. Omitted: the stored secret is kept; null: none (a public client, PKCE only). */
    clientSecret: z.string().min(1).max(1_000).nullable().optional(),
    /** E-mail domains whose addresses may sign in (exact match, lower case). */
    allowedDomains: z
      .array(
        z
          .string()
          .trim()
          .toLowerCase()
          .refine((d) => DOMAIN.test(d), 'not a domain name'),
      )
      .min(1)
      .max(50),
    /** The ID-token claim (a string or a list of strings) whose values pick a new operator's role; null or omitted: none. */
    roleClaim: z.string().min(1).max(100).nullable().optional(),
    /** Claim value → role for operators created at their first sign-in; no match: operator. */
    roleMapping: z
      .record(z.string().min(1).max(200), z.enum(OperatorRoles))
      .refine((m) => Object.keys(m).length <= 100, 'at most 100 entries')
      .optional(),
    /** false: password sign-in is refused for the tenant (needs an SSO sign-in that worked with this issuer and client). Default true. */
    passwordSignIn: z.boolean().optional(),
  })
  .strict();

export const ssoConfigResponse = z.object({
  issuer: z.string(),
  clientId: z.string(),
  clientSecretSet: z.boolean(),
  allowedDomains: z.array(z.string()),
  roleClaim: z.string().nullable(),
  roleMapping: z.record(z.string(), z.enum(OperatorRoles)),
  passwordSignIn: z.boolean(),
  /** The first SSO sign-in that worked with this issuer and client id; null: none yet. */
  verifiedAt: z.string().nullable(),
  /** The redirect URI to register at the provider. */
  redirectUri: z.string(),
  updatedAt: z.string(),
});
export type SsoConfigDto = z.infer<typeof ssoConfigResponse>;

/** A tenant's stored SSO configuration (the secret still sealed). */
export interface SsoConfigRow {
  issuer: string;
  client_id: string;
  client_secret_enc: string | null;
  allowed_domains: string[];
  role_claim: string | null;
  role_mapping: Record<string, OperatorRole>;
  password_sign_in: boolean;
  verified_at: Date | null;
  updated_at: Date;
}

/** Whether the tenant signs in through its identity provider only (password sign-in turned off). */
export async function ssoOnly(tx: TenantTx): Promise<boolean> {
  const row = await tx.db.selectFrom('sso_configs').select('password_sign_in').executeTakeFirst();
  return row !== undefined && !row.password_sign_in;
}

/** A password refused because the tenant signs in through its identity provider only (login, invitation, reset). */
export const passwordSignInDisabled = (slug?: string): ProblemException =>
  new ProblemException(
    403,
    'password-sign-in-disabled',
    'Password sign-in is turned off',
    `This organisation signs in through its identity provider: use single sign-on (GET /auth/sso/start?tenant=${slug ?? '<organisation>'}).`,
  );

export const notConfigured = (): ProblemException =>
  new ProblemException(404, 'sso-not-configured', 'Single sign-on not configured', 'This organisation has no single sign-on configured.');

/** The tenant's SSO configuration in the caller's transaction (FOR UPDATE with `lock`). */
export function readSsoConfig(tx: TenantTx, lock = false): Promise<SsoConfigRow | undefined> {
  const q = tx.db
    .selectFrom('sso_configs')
    .select(['issuer', 'client_id', 'client_secret_enc', 'allowed_domains', 'role_claim', 'role_mapping', 'password_sign_in', 'verified_at', 'updated_at'])
    .$narrowType<{ role_mapping: Record<string, OperatorRole> }>();
  return (lock ? q.forUpdate() : q).executeTakeFirst();
}

/**
 * Tenant admins' configuration of single sign-on (`/sso`): the provider (checked by discovery
 * before it is stored), the client secret sealed under the tenant's data key and never returned,
 * allowed domains, role mapping, and whether password sign-in stays on. Turning passwords off needs
 * a configuration some SSO sign-in has already worked with, so a tenant always keeps a way in;
 * removing the configuration turns passwords back on.
 */
@Injectable()
export class SsoConfigService {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(SsoProviders) private readonly providers: SsoProviders,
  ) {}

  async get(tenantId: TenantId): Promise<SsoConfigDto> {
    const row = await this.db.withTenant(tenantId, (tx) => readSsoConfig(tx));
    if (!row) throw notConfigured();
    return dto(row);
  }

  async put(tenantId: TenantId, body: unknown): Promise<SsoConfigDto> {
    const input = parseInput(ssoConfigBody, body, (path) => (path === 'issuer' ? 'invalid-issuer' : path.startsWith('allowedDomains') ? 'invalid-domain' : path.startsWith('roleMapping') ? 'invalid-role' : undefined));
    if (new URL(input.issuer).protocol === 'http:' && !insecureIssuersAllowed())
      throw new ProblemException(400, 'invalid-issuer', 'Invalid request', 'issuer: must be an https:// URL');
    const current = await this.db.withTenant(tenantId, (tx) => readSsoConfig(tx));
    const secret = input.clientSecret === undefined ? (current?.client_secret_enc ? await this.cipher.decrypt(tenantId, SSO_SECRET_FIELD, current.client_secret_enc) : null) : input.clientSecret;
    // The provider must answer as this issuer before anything is stored (network: outside the transaction).
    const client: ProviderClient = { tenantId, issuer: input.issuer, clientId: input.clientId, clientSecret: secret };
    await this.providers.check(client);
    const secretEnc = input.clientSecret === undefined ? undefined : input.clientSecret === null ? null : await this.cipher.encrypt(tenantId, SSO_SECRET_FIELD, input.clientSecret);
    const row = await this.db.withTenant(tenantId, async (tx) => {
      const locked = await readSsoConfig(tx, true);
      // Another issuer or client is another provider: what an earlier sign-in proved no longer holds.
      const sameProvider = !!locked && locked.issuer === input.issuer && locked.client_id === input.clientId;
      const verifiedAt = sameProvider ? locked.verified_at : null;
      const passwordSignIn = input.passwordSignIn ?? locked?.password_sign_in ?? true;
      if (!passwordSignIn && !verifiedAt)
        throw new ProblemException(
          409,
          'sso-not-verified',
          'Single sign-on not verified',
          'Password sign-in can be turned off only once someone has signed in through single sign-on with this issuer and client id: save the configuration with passwordSignIn true, sign in once with SSO, then turn passwords off.',
        );
      const values = {
        issuer: input.issuer,
        client_id: input.clientId,
        allowed_domains: input.allowedDomains,
        role_claim: input.roleClaim ?? null,
        role_mapping: JSON.stringify(input.roleMapping ?? {}),
        password_sign_in: passwordSignIn,
        verified_at: verifiedAt,
        ...(secretEnc !== undefined ? { client_secret_enc: secretEnc } : {}),
      };
      if (locked) await tx.db.updateTable('sso_configs').set({ ...values, updated_at: sql`now()` }).where('tenant_id', '=', tenantId).execute();
      else await tx.db.insertInto('sso_configs').values({ tenant_id: tenantId, ...values, client_secret_enc: secretEnc ?? null }).execute();
      return (await readSsoConfig(tx))!;
    });
    return dto(row);
  }

  /** Removes single sign-on; password sign-in is on again. */
  async remove(tenantId: TenantId): Promise<void> {
    const { numDeletedRows } = await this.db.withTenant(tenantId, (tx) => tx.db.deleteFrom('sso_configs').where('tenant_id', '=', tenantId).executeTakeFirst());
    if (numDeletedRows === 0n) throw notConfigured();
  }
}

function dto(r: SsoConfigRow): SsoConfigDto {
  return {
    issuer: r.issuer,
    clientId: r.client_id,
    clientSecretSet: r.client_secret_enc !== null,
    allowedDomains: r.allowed_domains,
    roleClaim: r.role_claim,
    roleMapping: r.role_mapping,
    passwordSignIn: r.password_sign_in,
    verifiedAt: r.verified_at?.toISOString() ?? null,
    redirectUri: ssoRedirectUri(),
    updatedAt: r.updated_at.toISOString(),
  };
}
