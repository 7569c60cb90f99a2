import type { Kysely } from 'kysely';
import type { TenantId } from '@hotdash/contracts';
import type { ControlDB } from '@hotdash/platform-db';

/** Sagas still moving: the engine holds jobs for them, so an offboarding leaves them (and says so). */
const UNFINISHED = ['running', 'compensating'];

/**
 * A tenant's finished sagas and their steps, erased at its offboarding: their inputs and states
 * carry what the tenant gave at sign-up (its name, its first admin's address) and what its
 * workflows produced. `keep` is the offboarding saga itself (its input is the ops team's: who asked,
 * and why), and unfinished sagas stay for the engine (none should remain once the tenant's writes
 * stopped). Answers how many were erased and how many were left unfinished.
 */
export async function eraseTenantSagas(db: Kysely<ControlDB>, tenantId: TenantId, keep: string): Promise<{ erased: number; unfinished: number }> {
  // saga_steps go with their saga (on delete cascade).
  const erased = await db.deleteFrom('sagas').where('tenant_id', '=', tenantId).where('id', '<>', keep).where('status', 'not in', UNFINISHED).executeTakeFirst();
  const left = await db
    .selectFrom('sagas')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('id', '<>', keep)
    .executeTakeFirstOrThrow();
  return { erased: Number(erased.numDeletedRows), unfinished: Number(left.n) };
}
