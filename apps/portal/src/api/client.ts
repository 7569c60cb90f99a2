// The portal's API client: openapi-fetch over the types generated from the gateway's document
// (schema.d.ts), the session's tokens (this tab's sessionStorage; refreshed before they expire),
// and problem+json answers turned into readable messages.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type Ok<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R } ? (R extends { 200: infer S } ? Json<S> : R extends { 201: infer S } ? Json<S> : R extends { 202: infer S } ? Json<S> : never) : never;

export type Ticket = Ok<'/tickets/{id}', 'get'>;
export type TicketSummary = Ok<'/tickets', 'get'>['tickets'][number];
export type Draft = Ticket['drafts'][number];
export type TicketStatus = TicketSummary['status'];
export type KnowledgeDocument = Ok<'/documents/{id}', 'get'>;
export type Operator = Ok<'/operators', 'get'>[number];
export type Me = Ok<'/me', 'get'>;
export type Role = Me['role'];
export type TokenPair = Ok<'/auth/login', 'post'>;
export type Problem = components['schemas']['Problem'];

const KEY = 'hotdash.session';

interface Session {
  accessToken: string;
  refreshToken: string;
  /** ms since the epoch when the access token runs out. */
  expiresAt: number;
}

let session: Session | null = (() => {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
  } catch {
    return null;
  }
})();
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<() => void>();

export const hasSession = (): boolean => session !== null;
/** Called when the session ends (sign-out, or a refresh the API refused). */
export const onSessionEnd = (fn: () => void): (() => void) => (listeners.add(fn), () => listeners.delete(fn));

export function startSession(t: TokenPair): void {
  session = { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: Date.now() + t.expiresIn * 1000 };
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function endSession(): void {
  session = null;
  sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn();
}

/** Rotates the refresh token for new tokens (one at a time); false: the session is over. */
async function refresh(): Promise<boolean> {
  if (!session) return false;
  refreshing ??= (async () => {
    const { data } = await api.POST('/auth/refresh', { body: { refreshToken: session!.refreshToken } });
    if (data) startSession(data);
    else endSession();
    return !!data;
  })().finally(() => (refreshing = null));
  return refreshing;
}

const auth: Middleware = {
  async onRequest({ request, schemaPath }) {
    if (schemaPath === '/auth/refresh' || schemaPath === '/auth/login' || schemaPath === '/auth/sso/exchange') return request;
    // A token that runs out within the next half minute is refreshed first.
    if (session && session.expiresAt - Date.now() < 30_000) await refresh();
    if (session) request.headers.set('authorization', `Bearer ${session.accessToken}`);
    return request;
  },
  onResponse({ response, schemaPath }) {
    if (response.status === 401 && schemaPath !== '/auth/login' && schemaPath !== '/auth/refresh' && session) endSession();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: location.origin });
api.use(auth);

/** A refresh now (a token the API refused): false when the session is over (it has been ended). */
export function refreshSession(): Promise<boolean> {
  return refresh();
}

/** The access token, for the calls openapi-fetch cannot make: an upload with progress (XMLHttpRequest), the queue's event stream. */
export async function accessToken(): Promise<string | null> {
  if (session && session.expiresAt - Date.now() < 30_000) await refresh();
  return session?.accessToken ?? null;
}

/** What the portal says for the problems an operator can meet, by their stable code. */
const MESSAGES: Record<string, string> = {
  'invalid-credentials': 'The organisation, e-mail address or password is wrong.',
  'password-sign-in-disabled': 'Your organisation signs in with single sign-on only: use the SSO button.',
  'sso-not-configured': 'Your organisation has no single sign-on: sign in with your password.',
  'draft-not-pending': 'This draft was already decided (perhaps in another tab): the ticket has been reloaded.',
  'already-replied': 'This ticket has already been answered.',
  'cannot-regenerate': 'A new draft can be asked for only after a rejected or failed one.',
  'operator-exists': 'Someone with this e-mail address is already an operator of your organisation.',
  'last-admin': 'Your organisation needs at least one admin: make someone else admin first.',
  'empty-document': 'The document has no text to index.',
  'unreadable-document': 'The document could not be read: upload plain text, Markdown, HTML or a PDF with text in it.',
  'outside-team': 'That operator is not in your team.',
  'tenant-suspended': 'Your organisation is suspended: you can read, but not change anything.',
  'settings-version-conflict': 'Someone changed the settings meanwhile: they have been reloaded; make your change again.',
  'invitation-used': 'This invitation was accepted already: sign in with your password, or ask your admin for a new invitation.',
  'invitation-expired': 'This invitation has expired: ask your admin for a new one.',
  'invitation-not-found': 'This invitation link is not valid: open the link exactly as it was mailed, or ask your admin for a new invitation.',
  'reset-used': 'This link was used already: ask for a new one from the sign-in page if you need it.',
  'reset-expired': 'This link has expired (they last an hour): ask for a new one from the sign-in page.',
  'reset-not-found': 'This link is not valid: open the link exactly as it was mailed, or ask for a new one from the sign-in page.',
  'sso-not-verified':
    'Password sign-in can be turned off only once someone has signed in through single sign-on with this issuer and client id: sign in with single sign-on once, then turn passwords off. Until then everyone keeps a way in.',
  'sso-issuer-unreachable': 'No OpenID Connect provider answers at this issuer: check the issuer URL (it must match the provider’s discovery document exactly).',
  'sso-provider-unavailable': 'The identity provider could not be reached: try again in a moment.',
  'sso-state-invalid': 'That single sign-on attempt expired, was used already or was started in another browser: sign in again.',
  'sso-handoff-invalid': 'That single sign-on has expired or was used already: sign in again.',
  'sso-denied': 'Your identity provider refused the sign-in.',
  'sso-token-invalid': 'Your identity provider’s answer could not be trusted (wrong organisation, audience or signature): sign in again, or ask your admin.',
  'sso-email-missing': 'Your identity provider gave no e-mail address for your account: ask your admin.',
  'sso-email-unverified': 'Your identity provider has not verified your e-mail address.',
  'sso-domain-not-allowed': 'Addresses of your e-mail domain may not sign in to this organisation: ask your admin.',
  'sso-account-removed': 'Your account was removed from this organisation: ask an admin to invite you again.',
  'export-in-progress': 'An export of the whole organisation is already queued or running: wait for it to finish.',
  'export-expired': 'This export’s link has expired and its file was deleted: start a new export.',
  'export-not-ready': 'This export has not finished yet.',
  'export-not-found': 'No such export: it may have expired, or it is not yours to see.',
  'erasure-not-found': 'No such erasure in your organisation.',
  'invalid-subject-email': 'That is not an e-mail address: type the customer’s address as they wrote to you.',
  'not-found': 'Not found: it may have been removed, or it is not yours to see.',
  forbidden: 'Your role does not allow this.',
  'rate-limited': 'Too many requests: wait a moment and try again.',
  'quota-exceeded': "Your plan's quota is used up for this month.",
  'missing-credentials': 'Your session has ended: sign in again.',
  'invalid-token': 'Your session has ended: sign in again.',
  'token-expired': 'Your session has ended: sign in again.',
  'token-revoked': 'Your session has ended: sign in again.',
  'too-many-streams': 'Live updates are open in too many tabs: the queue refreshes every minute here instead.',
};

/** A readable message for a failed call: the problem's code mapped to a sentence, else its detail or title. */
export function problemMessage(error: unknown, status?: number): string {
  const p = (error ?? {}) as Partial<Problem> & { errors?: { message?: string; path?: string }[] };
  if (p.code && MESSAGES[p.code]) return MESSAGES[p.code]!;
  const first = Array.isArray(p.errors) && p.errors[0]?.message ? ` (${p.errors[0].message})` : '';
  if (p.detail) return `${p.detail}${p.detail.includes(first.slice(2, -1)) ? '' : first}`;
  if (p.title) return `${p.title}${first}`;
  return status ? `The request failed (${status}).` : 'The service could not be reached: check your connection and try again.';
}

/** Unwraps an openapi-fetch answer: its data, or an Error with the problem's readable message. */
export function must<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || r.data === undefined) {
    if (r.response.ok && r.error === undefined) return undefined as T;
    throw Object.assign(new Error(problemMessage(r.error, r.response.status)), { status: r.response.status, code: (r.error as Partial<Problem> | undefined)?.code });
  }
  return r.data;
}

/** Every screen of the portal (router.ts names them). */
export type ScreenName = 'queue' | 'knowledge' | 'operators' | 'usage' | 'audit' | 'settings' | 'sso' | 'exports' | 'erasure';

/**
 * The screens each role sees, after the platform's role table (libs/platform/auth permissions.ts):
 * operators and team leads their queue; managers also the knowledge base, the operators (read
 * only), usage and settings (read only); admins everything, with single sign-on (settings:write),
 * data export (data:export) and erasure (data:erase), which are theirs alone. The API refuses the
 * rest anyway.
 */
export function screensFor(role: Role): ScreenName[] {
  if (role === 'admin') return ['queue', 'knowledge', 'operators', 'usage', 'audit', 'settings', 'sso', 'exports', 'erasure'];
  if (role === 'manager') return ['queue', 'knowledge', 'operators', 'usage', 'settings'];
  return ['queue'];
}

/** Hands `blob` to the browser as a download named `name`. */
export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
