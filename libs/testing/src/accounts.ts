import { parseTenantId, TenantId } from '@hotdash/contracts';
import { addPlatformOperator, emailHash, hashPassword } from '@hotdash/platform-auth';
import { FieldCipher, LocalKms, TenantKeyring } from '@hotdash/platform-crypto';
import { newId, type TenantTx } from '@hotdash/platform-db';
import type { TestWorld } from './world';

export const TEST_PASSWORD = 'correct horse battery staple';

let testPasswordHash: Promise<string> | undefined;
/**
 * One hash of TEST_PASSWORD per process, shared by every account the fixtures make: a password hash
 * at the platform's parameters costs a few hundred milliseconds, and suites create many accounts.
 */
export function hashOfTestPassword(): Promise<string> {
  testPasswordHash ??= hashPassword(TEST_PASSWORD).catch((err: unknown) => {
    testPasswordHash = undefined;
    throw err;
  });
  return testPasswordHash;
}

/** Hashes a password, TEST_PASSWORD from the per-process cache. */
const fixtureHash = (password: string): Promise<string> => (password === TEST_PASSWORD ? hashOfTestPassword() : hashPassword(password));

export interface TestAccount {
  tenantId: TenantId;
  slug: string;
  email: string;
  userId: string;
}

/**
 * An active tenant with one active operator of the given role and the password TEST_PASSWORD, as
 * provisioning and an accepted invitation leave them (data key, encrypted e-mail, password hash;
 * one hash of TEST_PASSWORD per process, hashOfTestPassword).
 */
export async function createAccount(world: TestWorld, role: 'operator' | 'team_lead' | 'manager' | 'admin' = 'admin'): Promise<TestAccount> {
  const keyring = new TenantKeyring(world.dbs, LocalKms.fromEnv());
  const cipher = new FieldCipher(keyring);
  const t = await world.createTenant(`Account ${newId().slice(-6)}`);
  await world.dbs.withControl((tx) => keyring.createKey(tx, t.id));
  const email = `ada-${newId().slice(-8)}@example.test`;
  const userId = newId();
  const emailEnc = await cipher.encrypt(t.id, 'users.email', email);
  const passwordHash = await hashOfTestPassword();
  await world.tenantDb.withTenant(t.id, (tx) =>
    tx.db
      .insertInto('users')
      .values({ id: userId, tenant_id: t.id, email_enc: emailEnc, email_hash: emailHash(t.id, email), display_name: 'Ada', role, status: 'active', password_hash: passwordHash })
      .execute(),
  );
  await world.tenantDb.withTenant(t.id, (tx) => seedQueueMember(tx, t.id, userId, role, null));
  const { slug } = await world.dbs.control().tenant.findUniqueOrThrow({ where: { id: t.id }, select: { slug: true } });
  return { tenantId: parseTenantId(t.id), slug, email, userId };
}

/** Another active operator of an existing account's tenant (password TEST_PASSWORD), in a team or none. */
export async function addOperator(world: TestWorld, account: TestAccount, role: 'operator' | 'team_lead' | 'manager' | 'admin', team: string | null = null): Promise<TestAccount> {
  const cipher = new FieldCipher(new TenantKeyring(world.dbs, LocalKms.fromEnv()));
  const email = `op-${newId().slice(-8)}@example.test`;
  const userId = newId();
  const emailEnc = await cipher.encrypt(account.tenantId, 'users.email', email);
  const passwordHash = await hashOfTestPassword();
  await world.tenantDb.withTenant(account.tenantId, (tx) =>
    tx.db
      .insertInto('users')
      .values({ id: userId, tenant_id: account.tenantId, email_enc: emailEnc, email_hash: emailHash(account.tenantId, email), display_name: 'Op', role, status: 'active', password_hash: passwordHash, team })
      .execute(),
  );
  await world.tenantDb.withTenant(account.tenantId, (tx) => seedQueueMember(tx, account.tenantId, userId, role, team));
  return { ...account, email, userId };
}

/**
 * The drafts service's queue member of an operator these fixtures create, as its consumer leaves it
 * once the operator's invited and joined events are in (the fixtures write no events).
 */
async function seedQueueMember(tx: TenantTx, tenantId: string, userId: string, role: string, team: string | null): Promise<void> {
  await tx.db.insertInto('queue_members').values({ tenant_id: tenantId, user_id: userId, role, team, status: 'active', updated_at: new Date() }).execute();
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
    const id = await addPlatformOperator(owner, { id: newId(), email, password: TEST_PASSWORD, displayName: 'Ops' }, fixtureHash);
    return { id, email };
  } finally {
    await owner.end();
  }
}
