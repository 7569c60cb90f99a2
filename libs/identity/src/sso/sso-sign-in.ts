import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { sql } from 'kysely';
import * as oidc from 'openid-client';
import { z } from 'zod';
import { OperatorEvents, OperatorRole, OperatorRoles, TenantId } from '@hotdash/contracts';
import { emailHash, EphemeralStore } from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantDirectory, TenantNotPlacedError } from '@hotdash/platform-db';
import { parseInput, ProblemException } from '@hotdash/platform-http';
import { publishInTx } from '@hotdash/platform-messaging';
import { ClientInfo, IdentityService, TokenPair } from '../identity.service';
import { operatorState } from '../operators/operator-state';
import { notConfigured, readSsoConfig, SSO_SECRET_FIELD, SsoConfigRow } from './sso-config';
import { reason, SsoProviders, SSO_CALLBACK_PATH, ssoRedirectUri } from './sso-provider';

/** How long a started sign-in may take at the provider before its state is forgotten. */
export const SSO_STATE_TTL_S = 600;
/** The cookie that binds a sign-in to the browser that started it: `hd_sso_<16 hex of the state's hash>`. */
export const SSO_COOKIE_PREFIX = 'hd_sso_';
const SCOPES = 'openid email profile';
/** Roles from least to most; a claim matching several mapped values gives the highest. */
const ROLE_RANK: readonly OperatorRole[] = OperatorRoles;

/** How long the portal has to exchange a finished sign-in's handoff code for the tokens. */
export const SSO_HANDOFF_TTL_S = 60;

/**
 * `to=portal`: the browser goes back to the portal (`/#sso=<handoff code>`, or `/#sso-error=<code>`)
 * instead of being answered the tokens as JSON; the portal exchanges the code at `POST /auth/sso/exchange`.
 */
export const ssoStartQuery = z.object({ tenant: z.string().min(1).max(64), to: z.enum(['json', 'portal']).optional() }).strict();
export type SsoReturn = 'json' | 'portal';
export const ssoExchangeBody = z.object({ code: z.string().min(1).max(200) }).strict();
/** What a provider sends back: `code` and `state`, or `error`; providers add their own parameters (iss, session_state, scope). */
export const ssoCallbackQuery = z
  .object({
    state: z.string().min(1).max(600),
    code: z.string().min(1).max(4_096).optional(),
    error: z.string().min(1).max(200).optional(),
    error_description: z.string().max(1_000).optional(),
  })
  .catchall(z.string().max(2_000))
  .refine((q) => Object.keys(q).length <= 20, 'too many parameters');

/** What is kept in the EphemeralStore (Redis, or the embedded state file) between the start and the callback (under the tenant's key prefix, single use). */
interface PendingSignIn {
  issuer: string;
  clientId: string;
  nonce: string;
  verifier: string;
  /** sha256 of the browser binding cookie's value. */
  binding: string;
  /** Where the browser goes when the sign-in is over (absent: JSON, as before the portal). */
  to?: SsoReturn;
}

/** A finished sign-in: the tokens, and where the browser asked to go with them. */
export interface SignedIn {
  tokens: TokenPair;
  to: SsoReturn;
}

/** A sign-in refused after its state was read: the refusal, and where the browser asked to go. */
export class SsoRefused extends Error {
  constructor(
    readonly problem: ProblemException,
    readonly to: SsoReturn,
  ) {
    super(problem.message);
  }
}

export interface StartedSignIn {
  location: string;
  cookie: { name: string; value: string; maxAgeSeconds: number };
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** Names under the tenant's prefix in the EphemeralStore (`hotdash:{t:<tenant>}:sso:state:<sha256>`, as before the port). */
const stateKey = (state: string): string => `sso:state:${sha256(state)}`;
const handoffKey = (code: string): string => `sso:handoff:${sha256(code)}`;
const HANDOFF_FIELD = 'sso.handoff';
export const ssoCookieName = (state: string): string => `${SSO_COOKIE_PREFIX}${sha256(state).slice(0, 16)}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const invalidState = (detail = 'This sign-in link is not valid, has expired or was used already: start the sign-in again.') =>
  new ProblemException(400, 'sso-state-invalid', 'Sign-in not recognised', detail);
const tokenInvalid = (why: string) => new ProblemException(401, 'sso-token-invalid', 'Identity provider answer refused', `The identity provider's answer was refused: ${why}.`);

/**
 * Sign-in through the tenant's OpenID Connect provider: authorization code with PKCE (S256).
 * `start` keeps the state's nonce and code verifier in Redis under the tenant's key prefix (single
 * use, {@link SSO_STATE_TTL_S}) and binds the sign-in to the browser with a cookie; the state
 * carries the tenant id, so the callback finds the tenant from it and nothing else. `callback`
 * consumes the state (GETDEL: a replay finds nothing), exchanges the code and checks the ID token
 * (issuer = the tenant's configured issuer, audience = its client id, nonce, expiry, signature by
 * the provider's JWKS), then the e-mail (verified, of an allowed domain) and the user: an active
 * user signs in; an invited one is activated with the invitation's role; anyone else is created
 * just in time with the mapped role (operator by default). A removed operator stays removed.
 * Every refusal is a 4xx problem+json and writes nothing; the user, the session and the first
 * verification of the configuration are one transaction.
 */
@Injectable()
export class SsoSignIn {
  private readonly logger = new Logger('sso');

  constructor(
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(EphemeralStore) private readonly ephemeral: EphemeralStore,
    @Inject(SsoProviders) private readonly providers: SsoProviders,
    @Inject(IdentityService) private readonly identity: IdentityService,
  ) {}

  async start(query: unknown): Promise<StartedSignIn> {
    const { tenant: slug, to } = parseInput(ssoStartQuery, query);
    const found = await this.directory.bySlug(slug.toLowerCase(), { maxAgeMs: 0 });
    if (!found || !['active', 'suspended'].includes(found.status)) throw notConfigured();
    const tenantId = found.id as TenantId;
    const cfg = await this.configOf(tenantId);
    if (!cfg) throw notConfigured();
    const config = await this.providers.configuration(await this.client(tenantId, cfg));
    const state = `${tenantId}.${oidc.randomState()}`;
    const nonce = oidc.randomNonce();
    const verifier = oidc.randomPKCECodeVerifier();
    const binding = randomBytes(32).toString('base64url');
    const pending: PendingSignIn = { issuer: cfg.issuer, clientId: cfg.client_id, nonce, verifier, binding: sha256(binding), ...(to === 'portal' ? { to } : {}) };
    await this.ephemeral.put(tenantId, stateKey(state), JSON.stringify(pending), SSO_STATE_TTL_S);
    const location = oidc.buildAuthorizationUrl(config, {
      response_type: 'code',
      redirect_uri: ssoRedirectUri(),
      scope: SCOPES,
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { location: location.href, cookie: { name: ssoCookieName(state), value: binding, maxAgeSeconds: SSO_STATE_TTL_S } };
  }

  /**
   * Finishes the sign-in. Refusals before the state is read are ProblemExceptions; after it, an
   * {@link SsoRefused} that also says where the browser asked to go.
   */
  async callback(query: unknown, cookies: Readonly<Record<string, string>>, client: ClientInfo): Promise<SignedIn> {
    const q = parseInput(ssoCallbackQuery, query, (path) => (path === 'state' || path === '' ? 'sso-state-invalid' : undefined));
    const dot = q.state.indexOf('.');
    const tenantId = q.state.slice(0, dot) as TenantId;
    if (dot < 0 || !UUID.test(tenantId)) throw invalidState();
    // Single use: whatever happens next, this state is spent.
    const raw = await this.ephemeral.take(tenantId, stateKey(q.state));
    if (!raw) throw invalidState();
    const pending = JSON.parse(raw) as PendingSignIn;
    const to = pending.to ?? 'json';
    try {
      return { tokens: await this.finish(tenantId, q, pending, cookies, client), to };
    } catch (err) {
      throw err instanceof ProblemException ? new SsoRefused(err, to) : err;
    }
  }

  /**
   * A finished sign-in's tokens for the portal: kept encrypted under the tenant's key for
   * {@link SSO_HANDOFF_TTL_S}, behind a single-use code that goes back to the browser in the URL's
   * fragment (never sent to a server, never in an access log).
   */
  async handoff(tenantId: TenantId, tokens: TokenPair): Promise<string> {
    const code = `${tenantId}.${randomBytes(32).toString('base64url')}`;
    const sealed = await this.cipher.encrypt(tenantId, HANDOFF_FIELD, JSON.stringify(tokens));
    await this.ephemeral.put(tenantId, handoffKey(code), sealed, SSO_HANDOFF_TTL_S);
    return code;
  }

  /** The tokens behind a handoff code, once. */
  async exchange(body: unknown): Promise<TokenPair> {
    const { code } = parseInput(ssoExchangeBody, body, () => 'sso-handoff-invalid');
    const dot = code.indexOf('.');
    const tenantId = code.slice(0, dot) as TenantId;
    const invalid = new ProblemException(400, 'sso-handoff-invalid', 'Sign-in not recognised', 'This sign-in has expired or was used already: sign in again.');
    if (dot < 0 || !UUID.test(tenantId)) throw invalid;
    const sealed = await this.ephemeral.take(tenantId, handoffKey(code));
    if (!sealed) throw invalid;
    return JSON.parse(await this.cipher.decrypt(tenantId, HANDOFF_FIELD, sealed)) as TokenPair;
  }

  private async finish(tenantId: TenantId, q: z.infer<typeof ssoCallbackQuery>, pending: PendingSignIn, cookies: Readonly<Record<string, string>>, client: ClientInfo): Promise<TokenPair> {    const cookie = cookies[ssoCookieName(q.state)];
    if (!cookie || !timingSafeEqual(Buffer.from(sha256(cookie)), Buffer.from(pending.binding)))
      throw invalidState('This sign-in was started in another browser (or its cookie is gone): start the sign-in again.');
    if (q.error) throw new ProblemException(401, 'sso-denied', 'Sign-in refused by the identity provider', `The identity provider answered ${q.error}${q.error_description ? `: ${q.error_description}` : ''}.`);
    if (!q.code) throw invalidState('The identity provider sent no authorization code.');

    const tenant = await this.directory.of(tenantId, { maxAgeMs: 0 });
    if (!tenant || !['active', 'suspended'].includes(tenant.status)) throw invalidState();
    const cfg = await this.configOf(tenantId);
    // The configuration changed since the start (another provider, or none): that sign-in is void.
    if (!cfg || cfg.issuer !== pending.issuer || cfg.client_id !== pending.clientId) throw invalidState('The organisation\u2019s single sign-on changed meanwhile: start the sign-in again.');
    const config = await this.providers.configuration(await this.client(tenantId, cfg));

    const callbackUrl = new URL(ssoRedirectUri());
    for (const [k, v] of Object.entries(q)) if (typeof v === 'string') callbackUrl.searchParams.set(k, v);
    let claims: oidc.IDToken;
    let userinfo: Record<string, unknown> = {};
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: pending.verifier, expectedState: q.state, expectedNonce: pending.nonce, idTokenExpected: true });
      claims = tokens.claims()!;
      // Providers that keep e-mail out of the ID token give it at the user-info endpoint (same subject checked).
      if (claims.email === undefined && tokens.access_token) userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    } catch (err) {
      throw this.refusal(tenantId, err);
    }
    const all = { ...userinfo, ...claims } as Record<string, unknown>;
    const email = typeof all.email === 'string' ? all.email.trim().toLowerCase() : '';
    if (!/^[^@\s]{1,64}@[^@\s]{1,253}$/.test(email)) throw new ProblemException(403, 'sso-email-missing', 'No e-mail address', 'The identity provider gave no e-mail address for this account.');
    if (all.email_verified !== true && all.email_verified !== 'true')
      throw new ProblemException(403, 'sso-email-unverified', 'E-mail address not verified', 'The identity provider has not verified this account\u2019s e-mail address.');
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (!cfg.allowed_domains.includes(domain))
      throw new ProblemException(403, 'sso-domain-not-allowed', 'E-mail domain not allowed', `Addresses of ${domain} may not sign in to this organisation.`);
    const role = mappedRole(cfg, all);
    const displayName = typeof all.name === 'string' && all.name.trim() ? all.name.trim().slice(0, 200) : null;
    return this.signIn(tenantId, email, role, displayName, client);
  }

  private async signIn(tenantId: TenantId, email: string, mapped: OperatorRole, displayName: string | null, client: ClientInfo, retried = false): Promise<TokenPair> {
    try {
      return await this.signInOnce(tenantId, email, mapped, displayName, client);
    } catch (err) {
      if (err instanceof CreatedMeanwhile && !retried) return this.signIn(tenantId, email, mapped, displayName, client, true);
      throw err;
    }
  }

  private async signInOnce(tenantId: TenantId, email: string, mapped: OperatorRole, displayName: string | null, client: ClientInfo): Promise<TokenPair> {
    const hash = emailHash(tenantId, email);
    const emailEnc = await this.cipher.encrypt(tenantId, 'users.email', email);
    const readAt = Date.now();
    const { userId, role, session } = await this.db.withTenant(tenantId, async (tx) => {
      const user = await tx.db
        .selectFrom('users')
        .select(['id', 'role', 'status'])
        .where('email_hash', '=', hash)
        .forUpdate()
        .$narrowType<{ role: OperatorRole }>()
        .executeTakeFirst();
      if (user?.status === 'removed')
        throw new ProblemException(403, 'sso-account-removed', 'Account removed', 'This account was removed from the organisation; ask an administrator to invite you again.');
      let userId: string;
      if (user?.status === 'active') userId = user.id;
      else {
        if (user) {
          // Invited: the invitation's role, chosen by an admin for this address; the invitation is used.
          userId = user.id;
          await tx.db.updateTable('users').set({ status: 'active', updated_at: sql`now()` }).where('id', '=', userId).where('status', '=', 'invited').execute();
          await tx.db.updateTable('invitations').set({ accepted_at: sql`now()` }).where('user_id', '=', userId).where('accepted_at', 'is', null).execute();
        } else {
          userId = newId();
          const inserted = await tx.db
            .insertInto('users')
            .values({ id: userId, tenant_id: tenantId, email_enc: emailEnc, email_hash: hash, display_name: displayName, role: mapped, status: 'active' })
            .onConflict((oc) => oc.columns(['tenant_id', 'email_hash']).doNothing())
            .returning('id')
            .executeTakeFirst();
          // The same person's other first sign-in created them meanwhile: sign in as that user (once more, below).
          if (!inserted) throw new CreatedMeanwhile();
        }
        // Drafts keeps its queue members from operator events (the state carries role and status).
        const state = await operatorState(tx, userId);
        await publishInTx(tx, OperatorEvents.JOINED, { tenantId, userId, state }, { tenantId, producer: 'gateway', correlationId: userId });
      }
      // The configuration has now worked once: password sign-in may be turned off.
      await tx.db.updateTable('sso_configs').set({ verified_at: sql`now()` }).where('tenant_id', '=', tenantId).where('verified_at', 'is', null).execute();
      const session = await this.identity.openSession(tx, tenantId, userId, client, SSO_CALLBACK_PATH);
      const row = await tx.db.selectFrom('users').select('role').where('id', '=', userId).$narrowType<{ role: OperatorRole }>().executeTakeFirstOrThrow();
      return { userId, role: row.role, session };
    });
    return this.identity.tokensFor(tenantId, userId, role, session, readAt);
  }

  private async configOf(tenantId: TenantId): Promise<SsoConfigRow | undefined> {
    try {
      return await this.db.withTenant(tenantId, (tx) => readSsoConfig(tx));
    } catch (err) {
      if (err instanceof TenantNotPlacedError) return undefined;
      throw err;
    }
  }

  private async client(tenantId: TenantId, cfg: SsoConfigRow) {
    const clientSecret = cfg.client_secret_enc ? await this.cipher.decrypt(tenantId, SSO_SECRET_FIELD, cfg.client_secret_enc) : null;
    return { tenantId, issuer: cfg.issuer, clientId: cfg.client_id, clientSecret };
  }

  /** What the code exchange or the ID token's checks refused: 401 (the provider's answer is not accepted), or 502 when the provider could not be reached. */
  private refusal(tenantId: string, err: unknown): ProblemException {
    if (err instanceof ProblemException) return err;
    const why = reason(err);
    this.logger.warn(`tenant ${tenantId}: SSO sign-in refused: ${why}`);
    const unreachable = err instanceof TypeError || (err as { name?: string }).name === 'TimeoutError' || (err as { name?: string }).name === 'AbortError';
    if (unreachable) return new ProblemException(502, 'sso-provider-unavailable', 'Identity provider unavailable', `The identity provider could not be reached: ${why}.`);
    return tokenInvalid(why);
  }
}

/** Two first sign-ins of one new person at once: the second finds the user the first created. */
class CreatedMeanwhile extends Error {}

/** The role a claim value maps to (the highest when several match); operator otherwise. */
function mappedRole(cfg: SsoConfigRow, claims: Record<string, unknown>): OperatorRole {
  if (!cfg.role_claim) return 'operator';
  const value = claims[cfg.role_claim];
  const values = Array.isArray(value) ? value : [value];
  let best: OperatorRole = 'operator';
  for (const v of values) {
    if (typeof v !== 'string' || !Object.hasOwn(cfg.role_mapping, v)) continue;
    const r = cfg.role_mapping[v]!;
    if (ROLE_RANK.indexOf(r) > ROLE_RANK.indexOf(best)) best = r;
  }
  return best;
}

/** The request's cookies by name (the Cookie header; no cookie plugin in the gateway). */
export function parseCookies(header: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (Array.isArray(header) ? header.join(';') : (header ?? '')).split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}
