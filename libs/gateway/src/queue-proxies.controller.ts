import { BeforeApplicationShutdown, Controller, Get, Inject, Logger, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { queueChangeEvent, QueueStreamClosed, QueueStreamEvents, SseFrames, sseFrame } from '@hotdash/contracts';
import { Allow, AUTH_REDIS, Audited, AuthError, Authenticator, CurrentPrincipal, Principal } from '@hotdash/platform-auth';
import { readSetting } from '@hotdash/platform-config';
import { ApiDoc, ProblemException } from '@hotdash/platform-http';
import type { RedisClient } from '@hotdash/platform-jobs';
import { releaseInFlightSlot } from './admission';
import { QueueStreamSlots } from './queue-streams';
import { passThrough, ServiceClient } from './service-client';

/**
 * An event stream's headers: never cached or transformed, not buffered by a proxy (nginx); and its
 * connection closes with it (a stream ended at shutdown leaves no keep-alive connection for the
 * server to wait on).
 */
const EVENT_STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no', connection: 'close' } as const;
/** How often an open stream's credential is checked again and its slot renewed. */
const RECHECK_MS = 15_000;
/** A client that reads nothing while this much waits is dropped (it reconnects and re-reads). */
const MAX_BUFFERED = 1_000_000;
const MAX_TIMER_MS = 2_147_483_647;

/** Whether an Accept header asks for an event stream (a plain `*∕*` does not: a stream would never end for a client that expects a document). */
function acceptsEventStream(accept: string | string[] | undefined): boolean {
  const values = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
  return values.split(',').some((v) => v.split(';', 1)[0]!.trim().toLowerCase() === 'text/event-stream');
}

/** Seconds since the epoch when a bearer token runs out (read from the token the guard has just verified), or undefined (API keys). */
function expiryOf(authorization: string | string[] | undefined): number | undefined {
  if (typeof authorization !== 'string' || !authorization.startsWith('Bearer ')) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(authorization.slice(7).split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

interface OpenStream {
  /** Ends the stream (with `closed` when a reason is given); resolves once its connection is closed. */
  end(reason: QueueStreamClosed['reason'] | undefined): Promise<void>;
}

/**
 * The caller's approval queue, live (issue 16 item 3): `GET /queue/stream` answers Server-Sent
 * Events from the drafts service (which decides what the caller may see: the same queue as
 * `GET /tickets`) — ids and kinds of changed tickets, never their text. The credential travels in
 * the Authorization header (or X-Api-Key), never in the address. While the stream is open the
 * gateway checks the credential again every 15 s (a revoked token or removed operator ends it with
 * `closed` `token-revoked`) and ends it when the token expires (`token-expired`: refresh, then
 * reconnect); at shutdown every stream ends with `closed` `shutdown` before the server closes.
 * Open streams are capped per user and per tenant across gateways (429 too-many-streams), and hold
 * no in-flight slot of the tenant's request limit once started.
 */
@Controller('queue')
@Audited('queue')
export class QueueProxyController implements BeforeApplicationShutdown {
  private readonly logger = new Logger('queue-stream');
  private readonly open = new Set<OpenStream>();
  private readonly slots: QueueStreamSlots;
  private closing = false;

  constructor(
    @Inject(ServiceClient) private readonly services: ServiceClient,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
    @Inject(AUTH_REDIS) redis: RedisClient | null,
  ) {
    this.slots = new QueueStreamSlots(redis, { perUser: readSetting('HOTDASH_QUEUE_STREAMS_PER_USER'), perTenant: readSetting('HOTDASH_QUEUE_STREAMS_PER_TENANT') });
  }

  @ApiDoc({
    summary:
      "The caller's queue, live: Server-Sent Events (send Accept: text/event-stream and the credential in a header). `ready` (re-read the queue; also after every reconnect), `change` {ticketId, kind} for a ticket of the caller's queue, `resync` (re-read the queue), `closed` {reason} before the stream ends (token-expired: refresh the token, then reconnect; shutdown: reconnect); `: heartbeat` comments every 15 s",
    mediaType: 'text/event-stream',
    response: queueChangeEvent,
    problems: {
      406: 'The request does not accept text/event-stream (event-stream-required)',
      429: 'Too many open streams for this user or organisation (too-many-streams), or the rate limits',
      503: 'This gateway is shutting down (shutting-down): reconnect',
    },
  })
  @Get('stream')
  @Allow('drafts:read')
  async stream(@CurrentPrincipal() p: Principal, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    if (!acceptsEventStream(req.headers.accept)) throw new ProblemException(406, 'event-stream-required', 'Event stream only', 'This route answers Server-Sent Events: send Accept: text/event-stream.');
    if (this.closing) throw new ProblemException(503, 'shutting-down', 'Shutting down', 'This gateway is shutting down: reconnect.');
    const slot = await this.slots.acquire(p);
    if (!slot.admitted) {
      void reply.header('Retry-After', '30');
      throw new ProblemException(
        429,
        'too-many-streams',
        'Too many live streams',
        slot.limit === 'user'
          ? `You may have ${slot.max} live queue streams open at once (tabs or windows): close one, or wait for one to end.`
          : `Your organisation may have ${slot.max} live queue streams open at once.`,
      );
    }
    const abort = new AbortController();
    let upstream: Response;
    try {
      upstream = await this.services.call('drafts', 'GET', '/internal/queue/stream', p, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    } catch (err) {
      await slot.release();
      throw err;
    }
    if (upstream.status !== 200 || !upstream.body) {
      await slot.release();
      abort.abort();
      return passThrough(reply, Promise.resolve(upstream));
    }
    // From here the answer is the stream: written by this handler, not by Nest or Fastify.
    reply.hijack();
    releaseInFlightSlot(reply);
    const raw = reply.raw;
    raw.writeHead(200, EVENT_STREAM_HEADERS);
    const credential = { authorization: req.headers.authorization, 'x-api-key': req.headers['x-api-key'] };
    const timers: NodeJS.Timeout[] = [];
    let ended = false;
    const closed = raw.destroyed ? Promise.resolve() : new Promise<void>((resolve) => raw.once('close', () => resolve()));
    const stream: OpenStream = {
      end: (reason) => {
        if (ended) return closed;
        ended = true;
        for (const t of timers) clearTimeout(t);
        this.open.delete(stream);
        if (reason && !raw.writableEnded && !raw.destroyed) raw.write(sseFrame(QueueStreamEvents.CLOSED, { reason }));
        // Its connection goes with it (a stream's connection is never reused; shutdown waits for no socket).
        if (!raw.writableEnded) raw.end(() => raw.destroy());
        else raw.destroy();
        abort.abort();
        void slot.release();
        return closed;
      },
    };
    this.open.add(stream);
    raw.on('close', () => void stream.end(undefined));
    const exp = expiryOf(credential.authorization);
    if (exp !== undefined) timers.push(setTimeout(() => void stream.end('token-expired'), Math.min(MAX_TIMER_MS, Math.max(0, exp * 1000 - Date.now()))));
    const recheck = setInterval(() => void this.recheck(credential, stream, slot.renew), RECHECK_MS);
    timers.push(recheck);
    // A client already gone (before the listener above): ended now.
    if (raw.destroyed) return void stream.end(undefined);
    void this.pump(upstream.body, raw, stream);
  }

  /** Every stream ends with `closed` (shutdown) before the server closes; clients reconnect to another gateway. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    const gone = [...this.open].map((s) => s.end('shutdown'));
    // Their connections closed before the server closes (it waits for every connection that is not idle then).
    await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  /** The credential again (revoked, removed or expired ends the stream); the slot's lease renewed. */
  private async recheck(credential: Record<string, string | string[] | undefined>, stream: OpenStream, renew: () => Promise<void>): Promise<void> {
    try {
      await this.authenticator.authenticate(credential);
    } catch (err) {
      if (err instanceof AuthError) return void stream.end(err.failure === 'token-expired' ? 'token-expired' : 'token-revoked');
      // Credentials cannot be checked right now (Redis and the database away): the stream stays, like the gateway's other limits fail open.
    }
    await renew();
  }

  /** The drafts service's frames to the client, whole frames only; its `closed`, or its end, ends the stream. */
  private async pump(body: ReadableStream<Uint8Array>, raw: FastifyReply['raw'], stream: OpenStream): Promise<void> {
    const frames = new SseFrames();
    const decoder = new TextDecoder();
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const frame of frames.push(decoder.decode(value, { stream: true }))) {
          if (raw.writableEnded || raw.destroyed) return void stream.end(undefined);
          const m = SseFrames.parse(frame);
          if (m.event === QueueStreamEvents.CLOSED) {
            // The drafts instance is going away (or could not listen): the client reconnects.
            const reason = (JSON.parse(m.data ?? '{}') as { reason?: QueueStreamClosed['reason'] }).reason;
            return void stream.end(reason === 'shutdown' ? 'shutdown' : 'unavailable');
          }
          raw.write(frame);
          if (raw.writableLength > MAX_BUFFERED) return void stream.end(undefined);
        }
      }
      void stream.end('unavailable');
    } catch (err) {
      if (!(err instanceof Error && err.name === 'AbortError')) this.logger.warn(`the drafts service's queue stream ended: ${(err as Error).message}`);
      void stream.end('unavailable');
    } finally {
      reader.releaseLock();
    }
  }
}
