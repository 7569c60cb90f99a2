import { Inject, Injectable } from '@nestjs/common';
import type { TenantId } from '@hotdash/contracts';
import { TenantDatabase } from '@hotdash/platform-db';
import { AuditLogRepository } from '../../audit-log.repository';
import { chainHash, GENESIS_HASH } from '../../hash-chain';

export type BrokenLinkReason = 'hash-mismatch' | 'prev-hash-mismatch' | 'seq-gap' | 'missing-entries' | 'head-mismatch' | 'head-missing';

export interface ChainVerification {
  ok: boolean;
  /** Entries checked (all of them when ok). */
  checked: number;
  /** The first entry whose link is broken. */
  /** The first entry whose link is broken (id null when the entry is missing from the end). */
  firstBroken?: { seq: number; id: string | null; reason: BrokenLinkReason; expected: string; actual: string };
}

/**
 * Walks a tenant's audit chain in order and names the first broken link: an entry whose stored hash
 * is not the hash of its content, whose prev_hash is not the previous entry's hash, or a missing seq;
 * and checks the chain ends at the recorded head (audit_heads), so entries deleted from the end
 * are named too.
 */
@Injectable()
export class VerifyAuditChainHandler {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(AuditLogRepository) private readonly log: AuditLogRepository,
  ) {}

  async execute(tenantId: TenantId, pageSize = 1_000): Promise<ChainVerification> {
    // The head is read first and the chain walked up to it: entries appended meanwhile lie beyond it
    // and are left for the next verification (reading the head last would call them missing).
    const head = await this.db.withTenant(tenantId, (tx) => this.log.head(tx, tenantId));
    const end = head?.seq ?? Number.MAX_SAFE_INTEGER;
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let checked = 0;
    for (;;) {
      const page = (await this.db.withTenant(tenantId, (tx) => this.log.page(tx, tenantId, expectedSeq - 1, pageSize))).filter((r) => r.seq <= end);
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
      if (page.length < pageSize || expectedSeq > end) {
        // The chain's end must be the recorded head: entries deleted from the end leave a valid
        // shorter chain that only the head shows.
        if (head && head.seq !== checked)
          return { ok: false, checked, firstBroken: { seq: checked + 1, id: null, reason: 'missing-entries', expected: String(head.seq), actual: String(checked) } };
        if (head && head.hash !== prevHash) return { ok: false, checked, firstBroken: { seq: head.seq, id: null, reason: 'head-mismatch', expected: head.hash, actual: prevHash } };
        // No head when we began, entries now: either the first entries were appended meanwhile (the head exists now) or it was deleted.
        if (!head && checked > 0 && !(await this.db.withTenant(tenantId, (tx) => this.log.head(tx, tenantId))))
          return { ok: false, checked, firstBroken: { seq: checked, id: null, reason: 'head-missing', expected: 'a recorded head', actual: 'none' } };
        return { ok: true, checked };
      }
    }
  }
}
