import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import { type FieldCipher, normaliseSubjectEmail } from '@hotdash/platform-crypto';
import type { TenantTx } from '@hotdash/platform-db';
import { MAIL_ADDRESS_FIELD } from './mail-outbox';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.eml$/;

/**
 * Erasure of one data subject's mail (platform/messaging owns `mail_outbox` and the local mail
 * files): every message of the tenant addressed to the subject's e-mail, queued, sent or set
 * aside. The outbox holds addresses sealed under the tenant's key with no index, so each of the
 * tenant's messages is opened in memory and compared (normalised like a subject reference).
 */
export class MailSubjectErasure {
  constructor(
    private readonly cipher: FieldCipher,
    /** Where the local sender writes `.eml` files (HOTDASH_MAIL_DIR), when this deployment uses it. */
    private readonly mailDir?: string,
  ) {}

  /** Deletes the tenant's outbox rows addressed to `email` in the caller's tenant transaction; returns how many. */
  async eraseOutbox(tx: TenantTx, tenantId: TenantId, email: string): Promise<number> {
    const wanted = normaliseSubjectEmail(email);
    const rows = await tx.db.selectFrom('mail_outbox').select(['id', 'to_enc']).where('tenant_id', '=', tenantId).forUpdate().execute();
    const ids: string[] = [];
    for (const r of rows) {
      const to = await this.cipher.decrypt(tenantId, MAIL_ADDRESS_FIELD, r.to_enc).catch(() => undefined);
      if (to !== undefined && normaliseSubjectEmail(to) === wanted) ids.push(r.id);
    }
    if (ids.length === 0) return 0;
    const r = await tx.db.deleteFrom('mail_outbox').where('tenant_id', '=', tenantId).where('id', 'in', ids).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes the tenant's `.eml` files (EmlFileMailSender) whose `To:` is `email`; returns how many. */
  async eraseFiles(tenantId: TenantId, email: string): Promise<number> {
    if (!this.mailDir) return 0;
    const wanted = normaliseSubjectEmail(email);
    const folder = join(this.mailDir, tenantId);
    const names = await readdir(folder).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    let erased = 0;
    for (const name of names.filter((n) => UUID.test(n))) {
      const path = join(folder, name);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const to = /^To: (.*)$/m.exec(text.slice(0, text.indexOf('\r\n\r\n') >>> 0))?.[1];
      if (to !== undefined && normaliseSubjectEmail(decodeHeader(to.trim())) === wanted) {
        await unlink(path);
        erased++;
      }
    }
    return erased;
  }
}

/** An RFC 2047 `=?UTF-8?B?…?=` header as the local sender writes it, else the text itself. */
function decodeHeader(value: string): string {
  const m = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/.exec(value);
  return m ? Buffer.from(m[1]!, 'base64').toString('utf8') : value;
}

/**
 * How many of the tenant's outbox events carry a value sealed under one of the data subject keys
 * `keyIds` (`s1.<key id>.` tokens), published (they went to Kafka) or not yet: the copies a subject
 * erasure leaves in place, unreadable once the keys are destroyed. Read in the caller's tenant
 * transaction (platform/messaging owns `outbox`).
 */
export async function outboxEventsSealedUnder(tx: TenantTx, keyIds: readonly string[]): Promise<{ published: number; unpublished: number }> {
  if (keyIds.length === 0) return { published: 0, unpublished: 0 };
  const markers = keyIds.map((id) => `s1.${Buffer.from(id.replace(/-/g, ''), 'hex').toString('base64url')}.`);
  const row = await tx.db
    .selectFrom('outbox')
    .select([sql<string>`count(*) filter (where published_at is not null)`.as('published'), sql<string>`count(*) filter (where published_at is null)`.as('unpublished')])
    .where((eb) => eb.or(markers.map((m) => eb(sql`position(${m} in envelope::text)`, '>', 0))))
    .executeTakeFirstOrThrow();
  return { published: Number(row.published), unpublished: Number(row.unpublished) };
}
