import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AccessEvents, AccessRecordedV1, Envelope, TenantId } from '@hotdash/contracts';
import { TenantDatabase, TenantNotPlacedError } from '@hotdash/platform-db';
import { appendToOutbox, buildEnvelope } from '@hotdash/platform-messaging';

const FLUSH_EVERY_MS = 100;
const MAX_PER_TENANT_BATCH = 500;
const MAX_BUFFERED = 50_000;

interface Pending {
  tenantId: TenantId;
  correlationId: string;
  payload: AccessRecordedV1;
}

/**
 * The audit of access, off the request path: requests append here and return; every 100 ms the
 * entries are written, per tenant, as `access.recorded` events in one multi-row insert into the
 * tenant's outbox (one transaction per tenant), from where the audit service appends them to the
 * tenant's hash chain. A write that fails is retried on the next flush; shutdown flushes what is
 * left. What a killed process had buffered (at most the last ~100 ms) is lost: the trade the issue
 * asks for ("batched so it does not slow the request").
 */
@Injectable()
export class AccessLog implements OnApplicationShutdown {
  private readonly logger = new Logger('access-log');
  private buffer: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(@Inject(TenantDatabase) private readonly db: TenantDatabase) {
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  record(tenantId: TenantId, correlationId: string, payload: AccessRecordedV1): void {
    if (this.buffer.length >= MAX_BUFFERED) {
      this.logger.error(`access log buffer full (${MAX_BUFFERED}): the database is not taking entries; dropping the oldest`);
      this.buffer.shift();
    }
    this.buffer.push({ tenantId, correlationId, payload });
  }

  /** Writes everything buffered so far (specs and shutdown call it; the timer does too). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  private async write(batch: Pending[]): Promise<void> {
    const byTenant = new Map<TenantId, { entry: Pending; envelope: Envelope }[]>();
    const retry: Pending[] = [];
    for (const entry of batch) {
      // Each entry is validated on its own: one that can never be written is dropped (and logged),
      // it must not hold back the tenant's other entries.
      let envelope: Envelope;
      try {
        envelope = buildEnvelope(AccessEvents.RECORDED, entry.payload, { tenantId: entry.tenantId, producer: 'gateway', correlationId: entry.correlationId });
      } catch (err) {
        this.logger.error(`dropping an access entry of tenant ${entry.tenantId} that is not valid: ${(err as Error).message}`);
        continue;
      }
      const list = byTenant.get(entry.tenantId);
      if (list) list.push({ entry, envelope });
      else byTenant.set(entry.tenantId, [{ entry, envelope }]);
    }
    await Promise.all(
      [...byTenant].map(async ([tenantId, items]) => {
        for (let i = 0; i < items.length; i += MAX_PER_TENANT_BATCH) {
          const chunk = items.slice(i, i + MAX_PER_TENANT_BATCH);
          try {
            await this.db.withTenant(tenantId, (tx) => appendToOutbox(tx, ...chunk.map((c) => c.envelope)));
          } catch (err) {
            if (err instanceof TenantNotPlacedError) {
              this.logger.warn(`dropping ${chunk.length} access entries of tenant ${tenantId}: it is not placed any more (offboarded)`);
              continue;
            }
            this.logger.warn(`writing ${chunk.length} access entries of tenant ${tenantId} failed, retrying: ${(err as Error).message}`);
            retry.push(...chunk.map((c) => c.entry));
          }
        }
      }),
    );
    if (retry.length) this.buffer.unshift(...retry);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
