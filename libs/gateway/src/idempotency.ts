import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { IdempotencyStore } from '@hotdash/platform-auth';
import { parseHeader, ProblemException } from '@hotdash/platform-http';

/** A service's answer as the gateway keeps it for replay. */
export interface StoredReply {
  status: number;
  contentType: string | null;
  body: string;
}

interface Entry {
  state: 'running' | 'done';
  fingerprint: string;
  reply?: StoredReply;
}

const DONE_TTL_S = 24 * 3600;
/** How long a first attempt may run before a retry may try again (a gateway killed mid-call leaves no lock behind for longer). */
const RUNNING_TTL_S = 60;

/**
 * Idempotency-Key for the POSTs the gateway passes on to services that have none of their own
 * (inviting an operator): the first request with a key runs, a retry with the same key and the
 * same body gets the first answer again (24 hours), the same key with another body is 422
 * `idempotency-key-reused`, and a retry while the first is still running is 409
 * `idempotency-in-progress`. Answers of 5xx are not kept, so a retry after a failure runs again.
 * Keys are per tenant and route, kept in the IdempotencyStore (Redis, or the embedded state file:
 * HOTDASH_STATE_STORE). Store unreachable: a request with a key is refused with 503
 * (fail closed: a retry must never create twice); requests without a key are unaffected.
 *
 * The entry is one key under the tenant's prefix (`hotdash:{t:<tenant>}:idem:<route>:<sha256>`, so
 * offboarding erases the stored answers with the tenant). On the single node, an entry under the
 * name of before issue 15 (`hotdash:idem:<tenant>:<route>:<sha256>`, kept 24 h) still answers, so a
 * retry across the deploy is not run twice.
 */
@Injectable()
export class IdempotentReplies {
  constructor(@Inject(IdempotencyStore) private readonly store: IdempotencyStore) {}

  /** `scope`: the tenant and the route (`POST /operators`) the key is for. */
  async once(scope: { tenantId: string; route: string }, rawKey: string | undefined, request: unknown, make: () => Promise<StoredReply>): Promise<StoredReply & { replayed: boolean }> {
    const key = parseHeader(rawKey, 'idempotency-key');
    if (key === undefined) return { ...(await make()), replayed: false };
    const digest = createHash('sha256').update(key).digest('hex');
    const fingerprint = createHash('sha256').update(JSON.stringify(request ?? null)).digest('hex');
    let taken = false;
    let existing: string | undefined;
    try {
      const claim = await this.store.claim(scope.tenantId, scope.route, digest, JSON.stringify({ state: 'running', fingerprint } satisfies Entry), RUNNING_TTL_S);
      taken = claim.taken;
      if (!claim.taken) existing = claim.existing;
    } catch {
      throw new ProblemException(503, 'idempotency-unavailable', 'Idempotency unavailable', 'Requests with an Idempotency-Key cannot be checked right now; retry in a few seconds.');
    }
    if (!taken) {
      const entry = existing ? (JSON.parse(existing) as Entry) : undefined;
      if (entry && entry.fingerprint !== fingerprint)
        throw new ProblemException(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was used for a different request; use a new key for a new request.');
      if (entry?.state === 'done' && entry.reply) return { ...entry.reply, replayed: true };
      throw new ProblemException(409, 'idempotency-in-progress', 'Request in progress', 'A request with this Idempotency-Key is still being processed; retry in a moment.');
    }
    let reply: StoredReply;
    try {
      reply = await make();
    } catch (err) {
      await this.store.forget(scope.tenantId, scope.route, digest).catch(() => undefined);
      throw err;
    }
    if (reply.status >= 500) await this.store.forget(scope.tenantId, scope.route, digest).catch(() => undefined);
    else await this.store.save(scope.tenantId, scope.route, digest, JSON.stringify({ state: 'done', fingerprint, reply } satisfies Entry), DONE_TTL_S).catch(() => undefined);
    return { ...reply, replayed: false };
  }
}

/** A service's answer read in full (small JSON answers only: replies to creating something). */
export async function storedReply(res: Response): Promise<StoredReply> {
  return { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() };
}
