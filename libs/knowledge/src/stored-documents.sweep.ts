import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { type RawBuilder, sql } from 'kysely';
import { parseSettings } from '@hotdash/platform-config';
import { Databases, ShardInfo, ShardRouter, withShardTransaction } from '@hotdash/platform-db';
import { jobCorrelation, PeriodicTask } from '@hotdash/platform-jobs';
import { parseTenantId } from '@hotdash/contracts';
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

export function storedDocumentsSweepOptions(env: NodeJS.ProcessEnv = process.env): StoredDocumentsSweepOptions {
  const s = parseSettings(env);
  return {
    // `off` (0): another process of the deployment sweeps (or, in the test suite, each spec's services leave other specs' documents alone).
    intervalMs: s.HOTDASH_KNOWLEDGE_SWEEP_MS,
    graceMs: s.HOTDASH_KNOWLEDGE_SWEEP_GRACE_MS,
    firstRunMs: s.HOTDASH_KNOWLEDGE_SWEEP_DELAY_MS,
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
 * version that is no longer current; a version whose job is kept as finished while the document
 * still waits, as after a restore, is queued under an id of the sweep's).
 */
@Injectable()
export class StoredDocumentsSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('knowledge');
  private readonly task = new PeriodicTask(() => this.runOnce(), (err) => this.logger.warn(`stored-documents sweep failed: ${err.message}`));

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
    this.task.start(this.options.firstRunMs, this.options.intervalMs);
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }

  /** One sweep over every shard; resolves to the number of document versions queued. */
  async runOnce(): Promise<number> {
    let queued = 0;
    let sealed = 0;
    const shards = (await this.router.listShards()).filter((s) => s.status !== 'retired');
    for (const shard of shards) {
      try {
        queued += await this.sweepShard(shard);
      } catch (err) {
        this.logger.warn(`stored-documents sweep of shard ${shard.name} failed: ${(err as Error).message}`);
      }
      try {
        sealed += await this.sealShard(shard);
      } catch (err) {
        this.logger.warn(`sealing sweep of shard ${shard.name} failed: ${(err as Error).message}`);
      }
    }
    if (queued > 0) this.logger.log(`stored-documents sweep re-queued ${queued} document version(s) waiting longer than ${this.options.graceMs} ms`);
    if (sealed > 0) this.logger.log(`sealing sweep sealed the sources of ${sealed} document(s) stored in the clear before sources were sealed`);
    return queued;
  }

  /**
   * Seals the sources still in the clear on one shard (documents stored before sources were sealed
   * under the tenant's key): the shard's clear_document_sources_sweep names them across tenants (ids
   * only), and each is sealed in its tenant's own transaction. Resolves to the number sealed.
   */
  async sealShard(shard: ShardInfo): Promise<number> {
    let sealed = 0;
    const pages = this.pages<{ tenant_id: string; id: string }>(
      shard,
      (batch, after) => sql`select tenant_id, id from clear_document_sources_sweep(${batch}::int, ${after?.tenant_id ?? null}::uuid, ${after?.id ?? null}::uuid)`,
    );
    for await (const r of pages) {
      try {
        if (await this.documents.sealSource(parseTenantId(r.tenant_id), r.id)) sealed++;
      } catch (err) {
        // A tenant whose key is gone (offboarded meanwhile) or moved away: the next sweep sees it again, or it is gone.
        this.logger.warn(`sealing the source of document ${r.id} of tenant ${r.tenant_id} failed: ${(err as Error).message}`);
      }
    }
    return sealed;
  }

  private async sweepShard(shard: ShardInfo): Promise<number> {
    const grace = `${this.options.graceMs} milliseconds`;
    let queued = 0;
    const pages = this.pages<Waiting>(
      shard,
      (batch, after) => sql`select tenant_id, id, version from stored_documents_sweep(${grace}::interval, ${batch}::int, ${after?.tenant_id ?? null}::uuid, ${after?.id ?? null}::uuid)`,
    );
    for await (const r of pages) if (await this.documents.enqueueWaiting({ tenantId: r.tenant_id, documentId: r.id, version: r.version, ...jobCorrelation(undefined) })) queued++;
    return queued;
  }

  /**
   * The rows of one of the shard's sweep functions, page after page in (tenant_id, id) order (the
   * next page after the last row of the one before), each page read as the application role without
   * a tenant: every tenant table shows nothing, the function returns ids only. Stops when the process does.
   */
  private async *pages<R extends { tenant_id: string; id: string }>(shard: ShardInfo, page: (batch: number, after: R | undefined) => RawBuilder<R>): AsyncGenerator<R> {
    const batch = Math.min(Math.max(this.options.batch, 1), 1000);
    let after: R | undefined;
    for (;;) {
      const { rows } = await withShardTransaction(this.dbs, shard, (tx) => page(batch, after).execute(tx.db), { role: 'app' });
      yield* rows;
      if (rows.length < batch || this.task.stopped) return;
      after = rows[rows.length - 1];
    }
  }
}
