import { Databases, ShardRouter } from '@hotdash/platform-db';
import type { KafkaProducerPort } from './kafka/kafka.port';
import { OutboxRelay, RelayOptions } from './relay';

export interface RelaySupervisorOptions extends RelayOptions {
  /** Relay the control-plane outbox. */
  control: boolean;
  /** Relay every registered shard's outbox (new shards are picked up every `shardRefreshMs`). */
  shards: boolean;
  shardRefreshMs?: number;
}

/** Runs one OutboxRelay per database this process publishes from. */
export class RelaySupervisor {
  private readonly relays = new Map<string, OutboxRelay>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly dbs: Databases,
    private readonly router: ShardRouter,
    private readonly producer: KafkaProducerPort,
    private readonly options: RelaySupervisorOptions,
  ) {}

  async start(): Promise<void> {
    if (this.options.control) this.add('control', this.dbs.controlLocation);
    if (this.options.shards) {
      await this.refreshShards();
      this.timer = setInterval(() => void this.refreshShards().catch((e: Error) => this.options.onError?.(e)), this.options.shardRefreshMs ?? 30_000);
      this.timer.unref();
    }
  }

  private add(key: string, location: OutboxRelay['location']): void {
    if (this.relays.has(key)) return;
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
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.relays.values()].map((r) => r.stop()));
    this.relays.clear();
  }
}
