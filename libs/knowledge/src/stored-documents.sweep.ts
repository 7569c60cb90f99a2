import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { sql } from 'kysely';
import { Databases, ShardInfo, ShardRouter, withShardTransaction } from '@hotdash/platform-db';
import { jobCorrelation } from '@hotdash/platform-jobs';
import { DocumentsService } from './documents.service';

export interface StoredDocumentsSweepOptions {
  /** Milliseconds between two sweeps (HOTDASH_KNOWLEDGE_SWEEP_MS, default 60 s); 0 when the process does not sweep (`off`). */
  intervalMs: number;
  /** A document waiting this long without a change is queued (HOTDASH_KNOWLEDGE_SWEEP_GRACE_MS, default 30 s). */
  graceMs: number;
  /** Milliseconds from start to the first sweep (HOTDASH_KNOWLEDGE_SWEEP_DELAY_MS, default 5 s). */
  firstRunMs: number;
  /** Documents read per call of the shard's function (at most 1000; default 500). */
  batch: number;
}

function ms(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`configuration ${name} must be a positive integer (milliseconds), got ${JSON.stringify(raw)}`);
  return n;
}

export function storedDocumentsSweepOptions(env: NodeJS.ProcessEnv = process.env): StoredDocumentsSweepOptions {
  return {
    // `off`: another process of the deployment sweeps (or, in the test suite, each spec's services leave other specs' documents alone).
    intervalMs: env.HOTDASH_KNOWLEDGE_SWEEP_MS === 'off' ? 0 : ms(env, 'HOTDASH_KNOWLEDGE_SWEEP_MS', 60_000),
    graceMs: ms(env, 'HOTDASH_KNOWLEDGE_SWEEP_GRACE_MS', 30_000),
    firstRunMs: ms(env, 'HOTDASH_KNOWLEDGE_SWEEP_DELAY_MS', 5_000),
    batch: 500,
  };
}

interface Waiting {
  tenant_id: string;
  id: string;
  version: number;
}

/**
 * Queues the indexing of documents that were committed but never queued: an upload or a submitted
 * document queues its job right after its commit, and a process that dies in between, or a Redis
 * that refuses the job, leaves the document waiting ('stored' or 'queued') with no job. Every
 * `intervalMs` (first run `firstRunMs` after start), on every shard the process knows, it asks the
 * shard's `stored_documents_sweep` function (prisma/tenant/migrations/20261205130000_…) for the
 * documents waiting longer than `graceMs` — one query across the shard's tenants, returning ids and
 * versions only, the single cross-tenant read the application role has — and queues each version
 * (the job id is the version's: one already queued is not queued twice, and the worker skips a
 * version that is no longer current).
 */
@Injectable()
export class StoredDocumentsSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('knowledge');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    @Inject(Databases) private readonly dbs: Databases,
    @Inject(ShardRouter) private readonly router: ShardRouter,
    @Inject(DocumentsService) private readonly documents: DocumentsService,
    readonly options: StoredDocumentsSweepOptions = storedDocumentsSweepOptions(),
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.intervalMs === 0) {
      this.logger.log('stored-documents sweep off (HOTDASH_KNOWLEDGE_SWEEP_MS=off)');
      return;
    }
    this.schedule(this.options.firstRunMs);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One sweep over every shard; resolves to the number of document versions queued. */
  async runOnce(): Promise<number> {
    let queued = 0;
    const shards = (await this.router.listShards()).filter((s) => s.status !== 'retired');
    for (const shard of shards) {
      try {
        queued += await this.sweepShard(shard);
      } catch (err) {
        this.logger.warn(`stored-documents sweep of shard ${shard.name} failed: ${(err as Error).message}`);
      }
    }
    if (queued > 0) this.logger.log(`stored-documents sweep re-queued ${queued} document version(s) waiting longer than ${this.options.graceMs} ms`);
    return queued;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().catch((err: Error) => {
        this.logger.warn(`stored-documents sweep failed: ${err.message}`);
        return 0;
      });
      void this.running.finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private async sweepShard(shard: ShardInfo): Promise<number> {
    const batch = Math.min(Math.max(this.options.batch, 1), 1000);
    const grace = `${this.options.graceMs} milliseconds`;
    let after: Waiting | undefined;
    let queued = 0;
    for (;;) {
      // As the application role without a tenant: every tenant table shows nothing; the function returns ids and versions.
      const { rows } = await withShardTransaction(
        this.dbs,
        shard,
        (tx) =>
          sql<Waiting>`select tenant_id, id, version from stored_documents_sweep(${grace}::interval, ${batch}::int, ${after?.tenant_id ?? null}::uuid, ${after?.id ?? null}::uuid)`.execute(tx.db),
        { role: 'app' },
      );
      for (const r of rows) if (await this.documents.enqueue({ tenantId: r.tenant_id, documentId: r.id, version: r.version, ...jobCorrelation(undefined) })) queued++;
      if (rows.length < batch || this.stopped) return queued;
      after = rows[rows.length - 1];
    }
  }
}
