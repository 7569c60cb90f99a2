import { hashPassword } from './passwords';

/** What adding and disabling platform operators needs of a connection: the owner role (services may only read the table). */
export interface OwnerQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

export interface NewPlatformOperator {
  id: string;
  email: string;
  password: string;
  displayName?: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Adds a member of the ops team (or gives a disabled one back their access with a new password).
 * `hash`: the password hashing (test fixtures pass one that reuses a single hash of their password).
 */
export async function addPlatformOperator(db: OwnerQueryable, op: NewPlatformOperator, hash: (password: string) => Promise<string> = hashPassword): Promise<string> {
  const email = op.email.trim().toLowerCase();
  if (!EMAIL.test(email) || email.length > 254) throw new Error(`not an e-mail address: ${op.email}`);
  if (op.password.length < 12) throw new Error('the password must be at least 12 characters');
  const { rows } = await db.query(
    `insert into platform_operators (id, email, display_name, password_hash) values ($1, $2, $3, $4)
     on conflict (email) do update set password_hash = excluded.password_hash, display_name = coalesce(excluded.display_name, platform_operators.display_name),
       status = 'active', disabled_at = null
     returning id::text`,
    [op.id, email, op.displayName ?? null, await hash(op.password)],
  );
  return rows[0]!.id as string;
}

/** Disables a member of the ops team: their tokens stop working with their next request. */
export async function disablePlatformOperator(db: OwnerQueryable, email: string): Promise<boolean> {
  const r = await db.query(`update platform_operators set status = 'disabled', disabled_at = now() where email = $1 and status = 'active'`, [email.trim().toLowerCase()]);
  return (r.rowCount ?? 0) > 0;
}
