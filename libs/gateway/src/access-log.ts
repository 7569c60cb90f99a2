import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { ACCESS_IP_FIELD, AccessEvents, AccessRecordedV1, Envelope, TenantId } from '@hotdash/contracts';
import { FieldCipher, TenantKeyDestroyedError, TenantKeyMissingError } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantNotPlacedError } from '@hotdash/platform-db';
import { appendToOutboxOnce, buildEnvelope } from '@hotdash/platform-messaging';
import { AccessSpool, accessSpoolDir, SpooledEntry } from './access-spool';

const FLUSH_EVERY_MS = 100;
const MAX_PER_TENANT_BATCH = 500;
const MAX_BUFFERED = 50_000;

/** The access log's spool (AccessSpool); a token so a spec can give its own directory. */
export const ACCESS_SPOOL = Symbol('ACCESS_SPOOL');

/**
 * The audit of access, off the database's request path but durable before the response: each entry
 * is built as its `access.recorded` event and appended to the process's spool on local disk
 * (AccessSpool: one write, which outlives a killed process) before the request is answered, and
 * buffered; every 100 ms the buffer is written, per tenant, in one multi-row insert into the tenant's
 * outbox (one transaction per tenant), from where the audit service appends the entries to the
 * tenant's hash chain. A write that fails is retried on the next flush; once a flush has written
 * everything it took, the spool's closed segments are removed; shutdown flushes what is left. A
 * gateway that starts takes over the spool segments of gateways that no longer run and writes their
 * entries (an entry already written is not written twice: its event id is kept). An entry that can
 * never be written (not valid, or its tenant no longer placed) is dropped and logged.
 */
@Injectable()
export class AccessLog implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('access-log');
  private buffer: SpooledEntry[] = [];
  /** Closed spool segments whose entries are in the buffer or being written. */
  private closed: string[] = [];
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly spool: AccessSpool;

  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Optional() @Inject(ACCESS_SPOOL) spool?: AccessSpool,
  ) {
    this.spool = spool ?? new AccessSpool(accessSpoolDir());
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  /** Takes over the spool segments of gateways that no longer run: their entries are written with the next flush. */
  onApplicationBootstrap(): void {
    const orphans = this.spool.adoptOrphans();
    if (orphans.unreadable) this.logger.warn(`${orphans.unreadable} spooled access entr${orphans.unreadable === 1 ? 'y' : 'ies'} of a stopped gateway could not be read (cut short by the stop) and are skipped`);
    if (orphans.paths.length === 0) return;
    this.logger.log(`writing ${orphans.entries.length} access entries spooled by ${orphans.paths.length} segment(s) of gateways that stopped`);
    this.buffer.unshift(...orphans.entries);
    this.closed.push(...orphans.paths);
  }

  record(tenantId: TenantId, correlationId: string, access: AccessRecordedV1): void {
    const entry: SpooledEntry = { tenantId, id: newId(), correlationId, occurredAt: new Date().toISOString(), access };
    try {
      this.spool.append(entry);
    } catch (err) {
      this.logger.error(`spooling an access entry failed (${(err as Error).message}): it is kept in memory only until the next flush`);
    }
    if (this.buffer.length >= MAX_BUFFERED) {
      this.logger.error(`access log buffer full (${MAX_BUFFERED}): the database is not taking entries; dropping the oldest (restore the database: the gateway's readiness reports it)`);
      this.buffer.shift();
    }
    this.buffer.push(entry);
  }

  /**
   * The entry's access.recorded event (version 2: the IP sealed under the tenant's data key), under
   * the id and time it was given when taken; undefined for one that can never be written (not valid).
   */
  private async envelopeOf(entry: SpooledEntry): Promise<Envelope | undefined> {
    const { ip, ...rest } = entry.access;
    let ipEnc: string | null = null;
    if (ip)
      try {
        ipEnc = await this.cipher.encrypt(entry.tenantId, ACCESS_IP_FIELD, ip);
      } catch (err) {
        // A tenant without a live key (a fixture, or one being offboarded): the entry is kept, its address is not.
        if (!(err instanceof TenantKeyMissingError || err instanceof TenantKeyDestroyedError)) throw err;
      }
    try {
      return { ...buildEnvelope(AccessEvents.RECORDED, { ...rest, ipEnc }, { tenantId: entry.tenantId, producer: 'gateway', correlationId: entry.correlationId, occurredAt: new Date(entry.occurredAt) }), id: entry.id };
    } catch (err) {
      // One that can never be written is dropped (and logged): it must not hold back the others.
      this.logger.error(`dropping an access entry of tenant ${entry.tenantId} that is not valid: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Writes everything buffered so far (specs and shutdown call it; the timer does too). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    const segment = this.spool.rotate();
    if (segment) this.closed.push(segment);
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    const closed = [...this.closed];
    this.buffer = [];
    this.flushing = this.write(batch)
      .then((retry) => {
        if (retry.length) this.buffer.unshift(...retry);
        else {
          // Everything up to this flush is written: its segments (and older ones) can go.
          this.spool.remove(closed);
          this.closed = this.closed.filter((p) => !closed.includes(p));
        }
      })
      .finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /** Writes the batch per tenant; returns the entries to retry. */
  private async write(batch: SpooledEntry[]): Promise<SpooledEntry[]> {
    const byTenant = new Map<TenantId, SpooledEntry[]>();
    for (const entry of batch) {
      const list = byTenant.get(entry.tenantId);
      if (list) list.push(entry);
      else byTenant.set(entry.tenantId, [entry]);
    }
    const retry: SpooledEntry[] = [];
    await Promise.all(
      [...byTenant].map(async ([tenantId, items]) => {
        for (let i = 0; i < items.length; i += MAX_PER_TENANT_BATCH) {
          const chunk = items.slice(i, i + MAX_PER_TENANT_BATCH);
          try {
            const envelopes = (await Promise.all(chunk.map((c) => this.envelopeOf(c)))).filter((e): e is Envelope => e !== undefined);
            await this.db.withTenant(tenantId, (tx) => appendToOutboxOnce(tx, envelopes));
          } catch (err) {
            if (err instanceof TenantNotPlacedError) {
              this.logger.warn(`dropping ${chunk.length} access entries of tenant ${tenantId}: it is not placed any more (offboarded)`);
              continue;
            }
            this.logger.warn(`writing ${chunk.length} access entries of tenant ${tenantId} failed, retrying: ${(err as Error).message}`);
            retry.push(...chunk);
          }
        }
      }),
    );
    return retry;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.spool.close();
  }
}
