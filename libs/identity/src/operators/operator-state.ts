import { sql } from 'kysely';
import type { OperatorRole, OperatorStateV1, OperatorStatus } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';

/**
 * The operator as this transaction leaves them, for the `state` of an operator.* event: their row
 * (read after this transaction wrote it, so it holds the row lock) and the shard's clock. Read
 * under the lock, the clock is later than that of any earlier change of the operator, to the
 * microsecond; the projections of operators (drafts' queue members) apply only the newest state.
 */
export async function operatorState(tx: TenantTx, userId: string): Promise<OperatorStateV1> {
  const row = await tx.db
    .selectFrom('users')
    .select(['role', 'team', 'status', sql<string>`to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('at')])
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  return { role: row.role as OperatorRole, team: row.team, status: row.status as OperatorStatus, at: row.at };
}
