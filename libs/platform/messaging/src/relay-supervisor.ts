import { Databases, listen, Listener, ShardRouter } from '@hotdash/platform-db';
import type { KafkaProducerPort } from './kafka/kafka.port';
import { OutboxRelay, RelayOptions } from './relay';

export interface RelaySupervisorOptions extends RelayOptions {
  /** Relay the control-plane outbox. */
  control: boolean;
  /**
   * Relay every registered shard's outbox (retired ones excepted). A shard registered while the
   * supervisor runs is picked up when the control database notifies `hotdash_shards` (a trigger on
   * the shards table), and at the latest after `shardRefreshMs`.
   */
  shards: boolean;
  /** Fallback re-read of the shard list, for a notification lost while disconnected (default 5 s). */
  shardRefreshMs?: number;
}

/** Runs one OutboxRelay per database this process publishes from. */
export class RelaySupervisor {
  private readonly relays = new Map<string, OutboxRelay>();
  private timer?: NodeJS.Timeout;
  private listener?: Listener;
  private refreshing?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly dbs: Databases,
    private readonly router: ShardRouter,
    private readonly producer: KafkaProducerPort,
    private readonly options: RelaySupervisorOptions,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    if (this.options.control) this.add('control', this.dbs.controlLocation);
    if (this.options.shards) {
      await this.refreshShards();
      this.listener = listen(this.dbs, this.dbs.controlLocation, 'relay', 'hotdash_shards', () => this.requestRefresh());
      this.timer = setInterval(() => this.requestRefresh(), this.options.shardRefreshMs ?? 5_000);
      this.timer.unref();
    }
  }

  /** Re-reads the shard list now, or once more after the read in progress (notifications coalesce). */
  private requestRefresh(): void {
    if (this.stopped) return;
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.refreshShards().catch((e: Error) => this.options.onError?.(e));
      } while (this.again && !this.stopped);
    })().finally(() => (this.refreshing = undefined));
  }

  private add(key: string, location: OutboxRelay['location']): void {
    if (this.stopped || this.relays.has(key)) return;
    const relay = new OutboxRelay(this.dbs, location, this.producer, this.options);
    this.relays.set(key, relay);
    relay.start();
  }

  private async refreshShards(): Promise<void> {
    for (const s of await this.router.listShards()) {
      if (s.status !== 'retired') this.add(`shard:${s.name}`, s);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.listener?.close();
    await this.refreshing;
    await Promise.all([...this.relays.values()].map((r) => r.stop()));
    this.relays.clear();
  }
}
