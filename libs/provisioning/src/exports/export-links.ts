import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { TenantId } from '@hotdash/contracts';
import type { DataKeySource } from '@hotdash/platform-crypto';

const LINK_INFO = 'hotdash export link v1';
const TOKEN = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

/** What a download token says when checked: good, expired (signature good, time past) or not this tenant's export's token. */
export type LinkCheck = 'ok' | 'expired' | 'invalid';

/**
 * Download links of finished exports: `<expiry ms>.<base64url HMAC-SHA256>` over the tenant, the
 * export and the expiry, under a key of the tenant alone (HKDF-SHA256 of its data key, the tenant id
 * as salt). A token names one export of one tenant until one moment: swapped to another export or
 * presented by another tenant it does not verify (that tenant's key is another), and a changed
 * expiry breaks the signature. Destroying the tenant's key voids every link.
 */
export class ExportLinks {
  constructor(private readonly keys: DataKeySource) {}

  private async mac(tenantId: TenantId, exportId: string, expiresMs: number): Promise<Buffer> {
    const key = Buffer.from(hkdfSync('sha256', await this.keys.dataKey(tenantId), Buffer.from(tenantId, 'utf8'), LINK_INFO, 32));
    try {
      return createHmac('sha256', key).update(`${tenantId}|${exportId}|${expiresMs}`, 'utf8').digest();
    } finally {
      key.fill(0);
    }
  }

  async sign(tenantId: TenantId, exportId: string, expiresAt: Date): Promise<string> {
    return `${expiresAt.getTime()}.${(await this.mac(tenantId, exportId, expiresAt.getTime())).toString('base64url')}`;
  }

  /** Whether `token` is this tenant's link to this export, still valid at `now`. */
  async check(tenantId: TenantId, exportId: string, token: string, now: Date): Promise<LinkCheck> {
    const m = TOKEN.exec(token);
    if (!m) return 'invalid';
    const expiresMs = Number(m[1]);
    const given = Buffer.from(m[2]!, 'base64url');
    const expected = await this.mac(tenantId, exportId, expiresMs);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return expiresMs > now.getTime() ? 'ok' : 'expired';
  }

  /** The token's shape (checked before any key is read). */
  static wellFormed(token: string): boolean {
    return TOKEN.test(token);
  }
}
