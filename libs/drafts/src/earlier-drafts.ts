import { EncryptedEarlierDraft, MAX_EARLIER_DRAFTS } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';

/**
 * What a regeneration carries for the next draft to follow (draft.requested v2): each ticket's
 * drafts before the attempt it now waits for that the operator rejected with a reason or
 * corrected, the latest {@link MAX_EARLIER_DRAFTS}, oldest first, as their rows' tokens (encrypted
 * with the tenant's data key: nothing is decrypted here).
 */
export async function earlierDraftsOf(tx: TenantTx, tickets: readonly { id: string; attempt: number }[]): Promise<Map<string, EncryptedEarlierDraft[]>> {
  const out = new Map<string, EncryptedEarlierDraft[]>(tickets.map((t) => [t.id, []]));
  if (!tickets.length) return out;
  const waitsFor = new Map(tickets.map((t) => [t.id, t.attempt]));
  const rows = await tx.db
    .selectFrom('drafts')
    .select(['ticket_id', 'attempt', 'body_enc', 'reject_reason_enc', 'edited_body_enc'])
    .where('ticket_id', 'in', [...waitsFor.keys()])
    .where((eb) => eb.or([eb('reject_reason_enc', 'is not', null), eb('edited_body_enc', 'is not', null)]))
    .orderBy('ticket_id')
    .orderBy('attempt')
    .execute();
  for (const r of rows)
    if (r.attempt < waitsFor.get(r.ticket_id)!) out.get(r.ticket_id)!.push({ attempt: r.attempt, bodyEnc: r.body_enc, rejectReasonEnc: r.reject_reason_enc, editedBodyEnc: r.edited_body_enc });
  for (const [id, list] of out) if (list.length > MAX_EARLIER_DRAFTS) out.set(id, list.slice(-MAX_EARLIER_DRAFTS));
  return out;
}
