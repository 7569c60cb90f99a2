import type { Provider } from '@nestjs/common';
import { readSetting } from '@hotdash/platform-config';
import { Databases } from '@hotdash/platform-db';
import { FieldCipher } from './field-cipher';
import { KmsPort } from './kms';
import { LocalKms } from './local-kms';
import { SubjectKeyring } from './subject-keyring';
import { TenantKeyring } from './tenant-keyring';
import { TransitKms } from './transit-kms';

/**
 * The KMS the configuration names (HOTDASH_KMS): `local` (the default), LocalKms with the master
 * keys of HOTDASH_KMS_MASTER_KEYS; `transit`, TransitKms on HOTDASH_KMS_TRANSIT_* (its key read
 * once here: a missing key, a refused token or an unreachable server stops the start).
 */
export async function kmsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<KmsPort> {
  return readSetting('HOTDASH_KMS', env) === 'transit' ? TransitKms.fromEnv(env) : LocalKms.fromEnv(env);
}

/**
 * Nest providers for envelope encryption in a service: the KMS (kmsFromEnv), the tenants' data
 * keys (TenantKeyring), its data subjects' keys (SubjectKeyring) and FieldCipher. Needs DatabaseModule in the app.
 */
export function cryptoProviders(): Provider[] {
  return [
    { provide: KmsPort, useFactory: () => kmsFromEnv() },
    { provide: TenantKeyring, useFactory: (dbs: Databases, kms: KmsPort) => new TenantKeyring(dbs, kms), inject: [Databases, KmsPort] },
    { provide: SubjectKeyring, useFactory: (dbs: Databases, k: TenantKeyring) => new SubjectKeyring(dbs, k), inject: [Databases, TenantKeyring] },
    { provide: FieldCipher, useFactory: (k: TenantKeyring, s: SubjectKeyring) => new FieldCipher(k, s), inject: [TenantKeyring, SubjectKeyring] },
  ];
}
