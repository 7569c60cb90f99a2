import { BeforeApplicationShutdown, Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { parseQueueNotification, QUEUE_CHANNEL, QueueChangeEvent, QueueChangeKind, QueueStreamClosed, QueueStreamEvents, TenantId } from '@hotdash/contracts';
import type { Principal } from '@hotdash/platform-auth';
import { Databases, listen, Listener, ShardInfo, TenantDatabase } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';
import { outsideTenantContext } from '@hotdash/platform-tenancy';
import { scopeParams, visibleTo } from './queue-scope';

/** Where a subscriber's stream goes: one event, a heartbeat, or the end. */
export interface QueueSink {
  send(event: string, data: object): void;
  heartbeat(): void;
  close(reason: QueueStreamClosed['reason']): void;
}

export interface QueueFeedOptions {
  /** Milliseconds between heartbeats (and between checks that each tenant is still on the shard listened to); default 15 s. */
  heartbeatMs?: number;
  /** Milliseconds a change waits for others of the same tenant before they are sent together (one visibility query per caller); default 25. */
  batchMs?: number;
}
export const QUEUE_FEED_OPTIONS = Symbol('QUEUE_FEED_OPTIONS');

interface Subscriber {
  principal: Principal;
  sink: QueueSink;
  /** It got its `ready` (its shard's listener was live then, or became so). */
  ready: boolean;
  shardKey: string;
}

interface ShardEntry {
  key: string;
  listener: Listener;
  /** The listener has connected at least once (notifications are heard). */
  live: boolean;
  tenants: Map<string, Set<Subscriber>>;
}

interface PendingChange {
  ticketId: string;
  kind: QueueChangeKind;
  was: string | null;
}

/** Changes of one tenant waiting to be sent beyond which the tenant's streams are told to re-read instead. */
const MAX_PENDING = 100;

const shardKeyOf = (s: ShardInfo): string => `${s.host}:${s.port}/${s.database}`;

/**
 * The approval queue's live changes, for the streams of this process (GET /internal/queue/stream).
 * The source is the tenant shard's `hotdash_queue` channel, which the tickets' own triggers notify
 * in the transaction that changes them (tenant migration 20261220100000_queue_changes): whatever
 * drafts process, consumer or sweep made the change, every process streaming that tenant's queue
 * hears it at commit. One LISTEN connection per shard with subscribers (opened outside any tenant
 * context, closed with the last subscriber).
 *
 * Who hears what follows the queue's own rule: changes of one tenant are batched (`batchMs`), then
 * each distinct caller scope (managers and admins: every ticket; team leads and operators: one
 * `visibleTo` query in the tenant's transaction, the same condition as `GET /tickets`) gets the
 * changes to tickets it may see, plus `unassigned` / `removed` for a ticket that was its own. A
 * notification of another tenant never reaches a subscriber (the map is keyed by tenant, and the
 * visibility query runs under that tenant's RLS).
 *
 * Nothing is missed silently: a subscriber gets `ready` once its shard's listener is live, and
 * `resync` when the listener reconnects (notifications sent meanwhile are lost), when a batch
 * overflows or cannot be checked, and when its tenant moved to another shard (found at each
 * heartbeat). At shutdown every stream ends with `closed` (`shutdown`) before the server closes.
 */
@Injectable()
export class QueueFeed implements BeforeApplicationShutdown {
  private readonly logger = new Logger('queue-feed');
  private readonly shards = new Map<string, ShardEntry>();
  private readonly byTenant = new Map<string, Set<Subscriber>>();
  private readonly pending = new Map<string, PendingChange[] | 'resync'>();
  private readonly flushing = new Map<string, NodeJS.Timeout>();
  private readonly heartbeatMs: number;
  private readonly batchMs: number;
  private ticker: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(Databases) private readonly dbs: Databases,
    @Optional() @Inject(QUEUE_FEED_OPTIONS) options: QueueFeedOptions | null = null,
  ) {
    this.heartbeatMs = options?.heartbeatMs ?? 15_000;
    this.batchMs = options?.batchMs ?? 25;
  }

  /** Whether new streams are taken (not while shutting down). */
  get accepting(): boolean {
    return !this.closing;
  }

  /** Streams open in this process. */
  get subscribers(): number {
    let n = 0;
    for (const s of this.byTenant.values()) n += s.size;
    return n;
  }

  /** @internal specs: the listener of a shard, while it has subscribers. */
  listenerOf(shard: ShardInfo): Listener | undefined {
    return this.shards.get(shardKeyOf(shard))?.listener;
  }

  /**
   * Starts sending the caller's queue changes to `sink`; returns what ends it (idempotent). The
   * first event is `ready` once changes are heard.
   */
  async subscribe(principal: Principal, sink: QueueSink): Promise<() => void> {
    if (this.closing) throw new ProblemException(503, 'shutting-down', 'Shutting down', 'This instance is shutting down: reconnect.');
    const shard = await this.db.router.shardOf(principal.tenantId);
    const sub: Subscriber = { principal, sink, ready: false, shardKey: shardKeyOf(shard) };
    let tenantSubs = this.byTenant.get(principal.tenantId);
    if (!tenantSubs) this.byTenant.set(principal.tenantId, (tenantSubs = new Set()));
    tenantSubs.add(sub);
    this.attach(sub, shard);
    this.startTicker();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.detach(sub);
      const set = this.byTenant.get(principal.tenantId);
      set?.delete(sub);
      if (set?.size === 0) this.byTenant.delete(principal.tenantId);
      if (this.byTenant.size === 0) this.stopTicker();
    };
  }

  /** Every stream ends with `closed` (shutdown) before the HTTP server closes; the listeners go. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.stopTicker();
    for (const t of this.flushing.values()) clearTimeout(t);
    this.flushing.clear();
    for (const subs of [...this.byTenant.values()]) for (const s of [...subs]) s.sink.close('shutdown');
    this.byTenant.clear();
    await Promise.all([...this.shards.values()].map((e) => e.listener.close()));
    this.shards.clear();
  }

  private attach(sub: Subscriber, shard: ShardInfo): void {
    let entry = this.shards.get(sub.shardKey);
    if (!entry) {
      const key = sub.shardKey;
      // Outside the request's tenant context: the connection's callbacks serve every tenant of the shard.
      entry = outsideTenantContext(() => {
        const e: ShardEntry = { key, live: false, tenants: new Map(), listener: undefined as unknown as Listener };
        e.listener = listen(this.dbs, { host: shard.host, port: shard.port, database: shard.database }, 'app', QUEUE_CHANNEL, (payload) => this.heard(e, payload));
        return e;
      });
      this.shards.set(key, entry);
    }
    let subs = entry.tenants.get(sub.principal.tenantId);
    if (!subs) entry.tenants.set(sub.principal.tenantId, (subs = new Set()));
    subs.add(sub);
    if (entry.live) this.markReady(sub);
  }

  private detach(sub: Subscriber): void {
    const entry = this.shards.get(sub.shardKey);
    if (!entry) return;
    const subs = entry.tenants.get(sub.principal.tenantId);
    subs?.delete(sub);
    if (subs?.size === 0) entry.tenants.delete(sub.principal.tenantId);
    if (entry.tenants.size === 0) {
      this.shards.delete(entry.key);
      void entry.listener.close();
    }
  }

  private markReady(sub: Subscriber): void {
    if (sub.ready) sub.sink.send(QueueStreamEvents.RESYNC, {});
    else {
      sub.ready = true;
      sub.sink.send(QueueStreamEvents.READY, {});
    }
  }

  /** A notification of the shard (or none: the listener (re)connected, and what was sent meanwhile is lost). */
  private heard(entry: ShardEntry, payload: string | undefined): void {
    if (this.shards.get(entry.key) !== entry) return;
    if (payload === undefined) {
      entry.live = true;
      for (const subs of entry.tenants.values()) for (const s of subs) this.markReady(s);
      return;
    }
    const n = parseQueueNotification(payload);
    if (!n || !entry.tenants.has(n.tenantId)) return;
    const held = this.pending.get(n.tenantId);
    if (n.resync || held === 'resync' || (held?.length ?? 0) >= MAX_PENDING) this.pending.set(n.tenantId, 'resync');
    else if (held) held.push({ ticketId: n.ticketId, kind: n.kind, was: n.was });
    else this.pending.set(n.tenantId, [{ ticketId: n.ticketId, kind: n.kind, was: n.was }]);
    if (!this.flushing.has(n.tenantId)) this.flushing.set(n.tenantId, setTimeout(() => void this.flush(n.tenantId as TenantId), this.batchMs));
  }

  /** Sends a tenant's waiting changes to each of its subscribers, as far as each may see them. */
  private async flush(tenantId: TenantId): Promise<void> {
    this.flushing.delete(tenantId);
    const changes = this.pending.get(tenantId);
    this.pending.delete(tenantId);
    const subs = [...(this.byTenant.get(tenantId) ?? [])].filter((s) => s.ready);
    if (!changes || subs.length === 0) return;
    if (changes === 'resync') {
      for (const s of subs) s.sink.send(QueueStreamEvents.RESYNC, {});
      return;
    }
    // One visibility check per distinct scope (operators and team leads: per user; managers and admins: all).
    const groups = new Map<string, { principal: Principal; all: boolean; subs: Subscriber[] }>();
    for (const s of subs) {
      const [scope, me] = scopeParams(s.principal);
      const key = scope === 'all' ? 'all' : `${scope}:${me ?? ''}`;
      const g = groups.get(key);
      if (g) g.subs.push(s);
      else groups.set(key, { principal: s.principal, all: scope === 'all', subs: [s] });
    }
    const ids = [...new Set(changes.filter((c) => c.kind !== 'removed').map((c) => c.ticketId))];
    let visible: Map<string, Set<string>>;
    try {
      visible = await this.visibleIds(tenantId, [...groups.entries()].filter(([, g]) => !g.all), ids);
    } catch (err) {
      this.logger.warn(`queue changes of tenant ${tenantId} could not be checked (${(err as Error).message}): its streams re-read the queue`);
      for (const s of subs) s.sink.send(QueueStreamEvents.RESYNC, {});
      return;
    }
    for (const [key, g] of groups) {
      const seen = visible.get(key);
      for (const s of g.subs) {
        const me = scopeParams(s.principal)[1];
        for (const c of changes) {
          const event: QueueChangeEvent | undefined =
            g.all || seen?.has(c.ticketId) ? { ticketId: c.ticketId, kind: c.kind } : me !== null && c.was === me ? { ticketId: c.ticketId, kind: c.kind === 'removed' ? 'removed' : 'unassigned' } : undefined;
          if (event) s.sink.send(QueueStreamEvents.CHANGE, event);
        }
      }
    }
  }

  /** For each scope, which of the tickets it may see (one read in the tenant's transaction, under its RLS). */
  private async visibleIds(tenantId: TenantId, groups: [string, { principal: Principal }][], ids: string[]): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    if (groups.length === 0 || ids.length === 0) return out;
    await this.db.withTenant(tenantId, async (tx) => {
      for (const [key, g] of groups) {
        const rows = await tx.db.selectFrom('tickets as t').select('t.id').where('t.id', 'in', ids).where(visibleTo(g.principal)).execute();
        out.set(key, new Set(rows.map((r) => r.id)));
      }
    });
    return out;
  }

  private startTicker(): void {
    if (this.ticker) return;
    this.ticker = outsideTenantContext(() => setInterval(() => void this.tick(), this.heartbeatMs));
    this.ticker.unref();
  }

  private stopTicker(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /** Heartbeats; and a tenant that moved to another shard is listened to there (its streams re-read once live). */
  private async tick(): Promise<void> {
    for (const subs of this.byTenant.values()) for (const s of subs) s.sink.heartbeat();
    for (const [tenantId, subs] of [...this.byTenant]) {
      let shard: ShardInfo;
      try {
        shard = await this.db.router.shardOf(tenantId as TenantId);
      } catch {
        continue;
      }
      const key = shardKeyOf(shard);
      for (const s of [...subs]) {
        if (s.shardKey === key || !this.byTenant.get(tenantId)?.has(s)) continue;
        this.detach(s);
        s.shardKey = key;
        this.attach(s, shard);
        // Heard from the new shard once its listener is live (ready → resync for a stream already ready).
      }
    }
  }
}
