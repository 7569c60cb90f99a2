import type { TenantId } from '@hotdash/contracts';
import type { TenantActivityLog } from './tenant-activity';
import type { WeaviateVectorStore } from './weaviate-vector-store';

export interface IdleTenantSweepOptions {
  /** A namespace unused this long goes INACTIVE. Default 10 minutes. */
  idleMs?: number;
  /**
   * At most this many namespaces stay ACTIVE: past it the least recently used go INACTIVE before
   * they are idle (never one used within `minActiveMs`). Default 1,000 (~11 open files each in
   * Weaviate: deploy/local's nofile floor of 16,384 is sized on it).
   */
  maxActive?: number;
  /** A namespace used more recently than this is never put to rest for `maxActive`. Default 1 minute. */
  minActiveMs?: number;
  /** Namespaces deactivated per run at most (bounded work per run; the next run goes on). Default 1,000. */
  maxPerRun?: number;
  /** Time between runs (start()). Default 1 minute. */
  intervalMs?: number;
  /** The clock (specs). Default Date.now. */
  now?: () => number;
  /** Where each run's outcome and failures are written. Default: nowhere. */
  log?: (line: string) => void;
}

export interface IdleTenantSweepReport {
  /** ACTIVE namespaces when the run started. */
  active: number;
  /** Put to rest by this run. */
  deactivated: TenantId[];
  /** Candidates Weaviate refused because a request was using them: left active, tried again next run. */
  inUse: TenantId[];
  /** Candidates used again between the choice and the deactivation: left active. */
  usedMeanwhile: TenantId[];
  /** Candidates left for the next run by `maxPerRun`. */
  deferred: number;
}

/**
 * Puts the vector namespaces that are not in use to rest: every run lists the collection's ACTIVE
 * tenants, reads when each was last used from the activity log that every store records its reads
 * and writes in, and sets INACTIVE (COLD) those unused for `idleMs`, plus the least recently used
 * beyond `maxActive`. A cold namespace keeps its data on disk and is loaded again by its next read
 * or write (the collection's automatic tenant activation). An ACTIVE namespace with no record (used
 * by a process without the log, or before the log existed) is recorded as seen now, so it goes to
 * rest `idleMs` later unless used. Runs never overlap; each is bounded by `maxPerRun`; it is safe to
 * run in several processes at once (setting INACTIVE twice is harmless).
 */
export class IdleTenantSweep {
  readonly idleMs: number;
  readonly maxActive: number;
  readonly minActiveMs: number;
  readonly maxPerRun: number;
  readonly intervalMs: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(
    private readonly store: WeaviateVectorStore,
    private readonly activity: TenantActivityLog,
    options: IdleTenantSweepOptions = {},
  ) {
    const positive = (name: string, v: number | undefined, fallback: number): number => {
      if (v === undefined) return fallback;
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
      return v;
    };
    this.idleMs = positive('idleMs', options.idleMs, 10 * 60_000);
    this.maxActive = positive('maxActive', options.maxActive, 1_000);
    this.minActiveMs = positive('minActiveMs', options.minActiveMs, 60_000);
    this.maxPerRun = positive('maxPerRun', options.maxPerRun, 1_000);
    this.intervalMs = positive('intervalMs', options.intervalMs, 60_000);
    if (this.minActiveMs > this.idleMs) throw new RangeError(`minActiveMs (${this.minActiveMs}) must not exceed idleMs (${this.idleMs})`);
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => undefined);
  }

  /** The sweep of a store that records its uses (WeaviateVectorStore's `activity`); undefined when it records none. */
  static of(store: WeaviateVectorStore, options: IdleTenantSweepOptions = {}): IdleTenantSweep | undefined {
    return store.activity ? new IdleTenantSweep(store, store.activity, options) : undefined;
  }

  /** One run (see the class). */
  async runOnce(): Promise<IdleTenantSweepReport> {
    const statuses = await this.store.tenantStatuses();
    const active = [...statuses].filter(([, s]) => s === 'ACTIVE').map(([id]) => id);
    const now = this.now();
    const last = await this.activity.lastUsed(active);
    const unrecorded = active.filter((_, i) => last[i] === undefined);
    if (unrecorded.length > 0) await this.activity.seen(unrecorded, now);
    const byAge = active.map((id, i) => ({ id, at: last[i] ?? now })).sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : 1));

    const idle = byAge.filter((t) => now - t.at >= this.idleMs);
    // Past maxActive: the least recently used of the rest, never one used within minActiveMs.
    const excess = Math.max(0, active.length - idle.length - this.maxActive);
    const crowded = excess === 0 ? [] : byAge.filter((t) => now - t.at < this.idleMs && now - t.at >= this.minActiveMs).slice(0, excess);
    const candidates = [...idle, ...crowded].sort((x, y) => x.at - y.at);
    const chosen = candidates.slice(0, this.maxPerRun);

    // Read again just before: a namespace used since the list was read stays active.
    const again = await this.activity.lastUsed(chosen.map((t) => t.id));
    const usedMeanwhile = chosen.filter((t, i) => again[i] !== undefined && again[i]! > t.at).map((t) => t.id);
    const still = chosen.filter((t, i) => !(again[i] !== undefined && again[i]! > t.at)).map((t) => t.id);
    const { deactivated, inUse } = still.length === 0 ? { deactivated: [], inUse: [] } : await this.store.deactivateTenants(still);
    const report = { active: active.length, deactivated, inUse, usedMeanwhile: usedMeanwhile.sort(), deferred: candidates.length - chosen.length };
    if (deactivated.length + inUse.length + report.deferred > 0) {
      this.log(
        `vector namespaces: ${deactivated.length} of ${active.length} active put to rest (idle ${Math.round(this.idleMs / 1000)} s${crowded.length ? `, ${crowded.length} beyond ${this.maxActive} active` : ''})` +
          `${inUse.length ? `, ${inUse.length} in use` : ''}${report.deferred ? `, ${report.deferred} left for the next run` : ''}`,
      );
    }
    return report;
  }

  /** Runs every `intervalMs` (the first run after one interval) until stop(); a failed run is logged and the next one goes on. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const schedule = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = this.runOnce()
          .catch((err: unknown) => this.log(`vector namespace sweep failed: ${err instanceof Error ? err.message : String(err)}`))
          .finally(() => {
            this.running = undefined;
            schedule();
          });
      }, this.intervalMs);
      this.timer.unref();
    };
    schedule();
  }

  /** Stops the runs; waits for one in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
