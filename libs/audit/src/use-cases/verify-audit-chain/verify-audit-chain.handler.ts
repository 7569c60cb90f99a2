import { Inject, Injectable } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import { TenantDatabase } from '@hotdash/platform-db';
import { AuditLogRepository } from '../../audit-log.repository';
import { chainHash, GENESIS_HASH } from '../../hash-chain';

export type BrokenLinkReason = 'hash-mismatch' | 'prev-hash-mismatch' | 'seq-gap';

export interface ChainVerification {
  ok: boolean;
  /** Entries checked (all of them when ok). */
  checked: number;
  /** The first entry whose link is broken. */
  firstBroken?: { seq: number; id: string; reason: BrokenLinkReason; expected: string; actual: string };
}

/**
 * Walks a tenant's audit chain in order and names the first broken link: an entry whose stored hash
 * is not the hash of its content, whose prev_hash is not the previous entry's hash, or a missing seq.
 */
@Injectable()
export class VerifyAuditChainHandler {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(AuditLogRepository) private readonly log: AuditLogRepository,
  ) {}

  async execute(tenantId: TenantId, pageSize = 1_000): Promise<ChainVerification> {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let checked = 0;
    for (;;) {
      const page = await this.db.withTenant(tenantId, (tx) => this.log.page(tx, tenantId, expectedSeq - 1, pageSize));
      for (const row of page) {
        if (row.seq !== expectedSeq) return { ok: false, checked, firstBroken: { seq: row.seq, id: row.id, reason: 'seq-gap', expected: String(expectedSeq), actual: String(row.seq) } };
        if (row.prevHash !== prevHash) return { ok: false, checked, firstBroken: { seq: row.seq, id: row.id, reason: 'prev-hash-mismatch', expected: prevHash, actual: row.prevHash } };
        const { prevHash: _p, hash, ...content } = row;
        const recomputed = chainHash(prevHash, content);
        if (recomputed !== hash) return { ok: false, checked, firstBroken: { seq: row.seq, id: row.id, reason: 'hash-mismatch', expected: recomputed, actual: hash } };
        prevHash = hash;
        expectedSeq++;
        checked++;
      }
      if (page.length < pageSize) return { ok: true, checked };
    }
  }
}
