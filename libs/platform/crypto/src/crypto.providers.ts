import type { Provider } from '@nestjs/common';
import { Databases } from '@hotdash/platform-db';
import { FieldCipher } from './field-cipher';
import { KmsPort } from './kms';
import { LocalKms } from './local-kms';
import { TenantKeyring } from './tenant-keyring';

/**
 * Nest providers for envelope encryption in a service: the KMS (LocalKms, master keys from
 * HOTDASH_KMS_MASTER_KEYS), the tenants' data keys (TenantKeyring) and FieldCipher. Needs
 * DatabaseModule in the app.
 */
export function cryptoProviders(): Provider[] {
  return [
    { provide: KmsPort, useFactory: () => LocalKms.fromEnv() },
    { provide: TenantKeyring, useFactory: (dbs: Databases, kms: KmsPort) => new TenantKeyring(dbs, kms), inject: [Databases, KmsPort] },
    { provide: FieldCipher, useFactory: (k: TenantKeyring) => new FieldCipher(k), inject: [TenantKeyring] },
  ];
}
