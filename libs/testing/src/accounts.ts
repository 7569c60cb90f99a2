import { parseTenantId, TenantId } from '@hotdash/contracts';
import { addPlatformOperator, emailHash, hashPassword } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId } from '@hotdash/platform-db';
import type { TestWorld } from './world';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestAccount {
  tenantId: TenantId;
  slug: string;
  email: string;
  userId: string;
}

/**
 * An active tenant with one active operator of the given role and the password TEST_PASSWORD, as
 * provisioning and an accepted invitation leave them (data key, encrypted e-mail, scrypt hash).
 */
export async function createAccount(world: TestWorld, role: 'operator' | 'team_lead' | 'manager' | 'admin' = 'admin'): Promise<TestAccount> {
  const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
  const cipher = new FieldCipher(keyring);
  const t = await world.createTenant(`Account ${newId().slice(-6)}`);
  await world.control.transaction((tx) => keyring.createKey(tx, t.id));
  const email = `ada-${newId().slice(-8)}@example.test`;
  const userId = newId();
  const emailEnc = await cipher.encrypt(t.id, 'users.email', email);
  const passwordHash = await hashPassword(TEST_PASSWORD);
  await world.tenantDb.withTenant(t.id, (tx) => tx.$executeRaw`insert into users (id, tenant_id, email_enc, email_hash, display_name, role, status, password_hash)
    values (${userId}::uuid, ${t.id}::uuid, ${emailEnc}, ${emailHash(t.id, email)}, 'Ada', ${role}, 'active', ${passwordHash})`);
  const [row] = await world.dbs.control().$queryRaw<{ slug: string }[]>`select slug from tenants where id = ${t.id}::uuid`;
  return { tenantId: parseTenantId(t.id), slug: row!.slug, email, userId };
}

/** Another active operator of an existing account's tenant (password TEST_PASSWORD), in a team or none. */
export async function addOperator(world: TestWorld, account: TestAccount, role: 'operator' | 'team_lead' | 'manager' | 'admin', team: string | null = null): Promise<TestAccount> {
  const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
  const email = `op-${newId().slice(-8)}@example.test`;
  const userId = newId();
  const emailEnc = await cipher.encrypt(account.tenantId, 'users.email', email);
  const passwordHash = await hashPassword(TEST_PASSWORD);
  await world.tenantDb.withTenant(account.tenantId, (tx) => tx.$executeRaw`insert into users (id, tenant_id, email_enc, email_hash, display_name, role, status, password_hash, team)
    values (${userId}::uuid, ${account.tenantId}::uuid, ${emailEnc}, ${emailHash(account.tenantId, email)}, 'Op', ${role}, 'active', ${passwordHash}, ${team})`);
  return { ...account, email, userId };
}

export interface TestPlatformOperator {
  id: string;
  email: string;
}

/** A member of the platform's ops team with the password TEST_PASSWORD (added as the owner role, as `npm run ops:operator` does). */
export async function createPlatformOperator(world: TestWorld): Promise<TestPlatformOperator> {
  const { controlHost: host, controlPort: port, controlDatabase: database } = world.config.db;
  const owner = await world.connect({ host, port, database }, 'owner');
  try {
    const email = `ops-${newId().slice(-8)}@platform.test`;
    const id = await addPlatformOperator(owner, { id: newId(), email, password: TEST_PASSWORD, displayName: 'Ops' });
    return { id, email };
  } finally {
    await owner.end();
  }
}
