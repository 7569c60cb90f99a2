import type { Kysely } from 'kysely';
import { Pool } from 'pg';
import { controlKysely } from './control-transaction';
import type { ControlDB } from './generated/kysely/control';
import type { DbLocation } from './databases';

/**
 * Another installation's control database (a pilot's, during its import), reached as the role given
 * (its import role) through a short-lived pool of one connection, closed after `fn`: none of this
 * platform's credentials goes there.
 */
export async function withForeignControl<T>(at: DbLocation, role: { user: string; password: string }, fn: (db: Kysely<ControlDB>) => Promise<T>): Promise<T> {
  const pool = new Pool({ host: at.host, port: at.port, database: at.database, user: role.user, password: role.password, max: 1, connectionTimeoutMillis: 5_000, application_name: 'hotdash-import' });
  pool.on('error', () => undefined);
  try {
    return await fn(controlKysely(pool));
  } finally {
    await pool.end().catch(() => undefined);
  }
}
