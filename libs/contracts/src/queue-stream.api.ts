import { z } from 'zod';
import { uuidSchema } from './envelope';

/**
 * The approval queue's live updates (issue 16 item 3): `GET /queue/stream`, Server-Sent Events.
 * Each event names a ticket of the caller's queue and what happened to it: ids and kinds only,
 * never ticket text or personal data (the portal re-fetches what changed through the ordinary
 * routes, which decide what the caller may read).
 *
 * Events (`event:` field; `data:` is JSON):
 * - `ready` `{}`: the stream listens; re-fetch the queue once (on every connect and reconnect, so a
 *   change made while disconnected is never missed);
 * - `change` {@link QueueChangeEvent}: a ticket of the caller's queue changed;
 * - `resync` `{}`: too many changes at once (a restore, a sweep), or the server's own listener
 *   reconnected: re-fetch the queue;
 * - `closed` {@link QueueStreamClosed}: the stream ends (token expired or revoked, the server
 *   shutting down): reconnect (after refreshing the token for `token-expired`).
 * Comment lines (`: heartbeat`) keep proxies from cutting an idle stream.
 */
export const QUEUE_CHANGE_KINDS = [
  /** A new ticket in the caller's queue. */
  'created',
  /** A new draft is being written (a regeneration). */
  'drafting',
  /** A draft awaits approval. */
  'draft-ready',
  /** No draft could be written: reply by hand or ask again. */
  'draft-failed',
  /** Approved, edited, rejected or replied by hand. */
  'decided',
  /** Another status change. */
  'status',
  /** Given to another operator (the new assignee and whoever sees it get `assigned`). */
  'assigned',
  /** Taken away from the caller (sent to the previous assignee only). */
  'unassigned',
  /** Anything else about the ticket changed. */
  'updated',
  /** Its approval SLA was breached (and perhaps escalated). */
  'sla-breached',
  /** The ticket is gone (a data subject's erasure). */
  'removed',
] as const;
export type QueueChangeKind = (typeof QUEUE_CHANGE_KINDS)[number];

export const queueChangeEvent = z.object({ ticketId: uuidSchema, kind: z.enum(QUEUE_CHANGE_KINDS) }).strict();
export type QueueChangeEvent = z.infer<typeof queueChangeEvent>;

export const QUEUE_STREAM_CLOSE_REASONS = ['token-expired', 'token-revoked', 'shutdown', 'unavailable'] as const;
export const queueStreamClosed = z.object({ reason: z.enum(QUEUE_STREAM_CLOSE_REASONS) }).strict();
export type QueueStreamClosed = z.infer<typeof queueStreamClosed>;

/** The stream's event names. */
export const QueueStreamEvents = { READY: 'ready', CHANGE: 'change', RESYNC: 'resync', CLOSED: 'closed' } as const;

/**
 * The tenant shard's notification channel of queue changes (tenant migration
 * 20261220100000_queue_changes): `<tenant id>:<ticket id>:<kind>:<previous assignee or empty>`,
 * or `<tenant id>:*:resync:` when a transaction changed more than 100 tickets.
 */
export const QUEUE_CHANNEL = 'hotdash_queue';

/** The kinds a notification carries (the database's words; `unassigned` is derived per listener). */
const NOTIFIED_KINDS = new Set<string>(QUEUE_CHANGE_KINDS.filter((k) => k !== 'unassigned'));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type QueueNotification = { tenantId: string; resync: true } | { tenantId: string; resync: false; ticketId: string; kind: QueueChangeKind; was: string | null };

/** A `hotdash_queue` payload, or undefined when it is not one (anything malformed is ignored). */
export function parseQueueNotification(payload: string): QueueNotification | undefined {
  const [tenantId = '', ticketId = '', kind = '', was = '', ...rest] = payload.split(':');
  if (rest.length || !UUID.test(tenantId)) return undefined;
  if (ticketId === '*') return kind === 'resync' ? { tenantId, resync: true } : undefined;
  if (!UUID.test(ticketId) || !NOTIFIED_KINDS.has(kind) || (was !== '' && !UUID.test(was))) return undefined;
  return { tenantId, resync: false, ticketId, kind: kind as QueueChangeKind, was: was || null };
}

/** One Server-Sent Events frame: an event with its JSON data. */
export function sseFrame(event: string, data: object): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment frame (ignored by clients; keeps proxies from cutting an idle stream). */
export const SSE_HEARTBEAT = ': heartbeat\n\n';

/** One parsed frame: a comment has no event. */
export interface SseMessage {
  event?: string;
  data?: string;
}

/**
 * Splits a stream of text into whole Server-Sent Events frames (blank-line separated), for a
 * reader that forwards or interprets complete frames only. Push chunks; take frames.
 */
export class SseFrames {
  private buffer = '';

  /** The complete frames (each with its closing blank line) that `chunk` finished. */
  push(chunk: string): string[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    const frames: string[] = [];
    for (let at = this.buffer.indexOf('\n\n'); at >= 0; at = this.buffer.indexOf('\n\n')) {
      frames.push(this.buffer.slice(0, at + 2));
      this.buffer = this.buffer.slice(at + 2);
    }
    if (this.buffer.length > 1_000_000) throw new Error('an event-stream frame over 1 MB');
    return frames;
  }

  /** A frame's event name and data (data lines joined); comments give neither. */
  static parse(frame: string): SseMessage {
    const m: SseMessage = {};
    const data: string[] = [];
    for (const line of frame.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') m.event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) m.data = data.join('\n');
    if (m.data !== undefined && m.event === undefined) m.event = 'message';
    return m;
  }
}
