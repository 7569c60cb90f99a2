import { ImportProblems, type DatabaseLocation } from '@hotdash/contracts';
import { ShardUnreachableError, type ShardInspector } from '@hotdash/platform-db';
import { ProblemException } from '@hotdash/platform-http';

/**
 * What a pilot import reads on the pilot's control database (the tenant, its placement and shard,
 * its plan, its wrapped data key, running sagas, the relay's backlog, the schema version): SELECT is
 * all it needs there.
 */
export const PILOT_CONTROL_READS = ['hotdash_migrations', 'tenants', 'tenant_placements', 'shards', 'plans', 'tenant_keys', 'subject_keys', 'sagas', 'outbox'] as const;

/** A connection the inspector opened (the driver's client: its type, without importing the driver here). */
type Connection = Parameters<Parameters<ShardInspector['as']>[2]>[0];

const where = (l: DatabaseLocation) => `${l.host}:${l.port}/${l.database}`;
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const problem = (code: string, title: string, detail: string) => new ProblemException(422, code, title, detail);

/** PostgreSQL's answers to a login it refuses: wrong password or unknown role (28P01), pg_hba.conf rejects it (28000). */
const AUTH_FAILED = new Set(['28P01', '28000']);

/**
 * Checks the pilot's import role on one of the pilot's databases before anything is read or changed
 * there (docs/pilot.md, "The import role"): it logs in (else 422 pilot-auth-failed; a server that does
 * not answer, or has no such database: 422 pilot-unreachable), and holds what the import needs on
 * that database (else 422 pilot-privilege-missing, naming each missing privilege and the SQL that
 * grants it):
 *
 * - control database: SELECT on {@link PILOT_CONTROL_READS} (and USAGE on schema public);
 * - shard: REPLICATION (the logical replication slot, and the subscription's walsender connection),
 *   CREATE on the database (the publication), and the privileges of the owner of every tenant table
 *   (PostgreSQL lets only a table's owner add it to a publication; as the owner's member the role also
 *   reads the tenant's rows and writes the fence, the catch-up markers and the queues' set-aside in
 *   the tenant's row-level-security context, like the owner: no BYPASSRLS is needed).
 *
 * `inspector`: one whose configuration's roles are all the import role (the import handler's pilot
 * session), so the one short-lived connection it opens logs in as that role; its password appears in
 * no message.
 */
export async function checkPilotAccess(inspector: ShardInspector, at: DatabaseLocation, user: string, plane: 'control' | 'tenant'): Promise<void> {
  const what = plane === 'control' ? 'control database' : 'shard';
  let missing: Gap[];
  try {
    missing = await inspector.as(at, 'owner', (c) => (plane === 'control' ? controlGaps(c, user) : shardGaps(c, user, at.database)));
  } catch (err) {
    if (!(err instanceof ShardUnreachableError)) throw err;
    if (err.sqlState && AUTH_FAILED.has(err.sqlState))
      throw problem(
        ImportProblems.PILOT_AUTH_FAILED,
        'Pilot refused the import role',
        `the pilot's ${what} at ${where(at)} refused the import role ${user}: ${err.reason}. Check the role's name and password (made on the pilot as docs/pilot.md says), and that the pilot's pg_hba.conf lets it in from the platform's provisioning hosts and the target shard's server`,
      );
    throw problem(ImportProblems.PILOT_UNREACHABLE, 'Pilot unreachable', `the pilot's ${what} at ${where(at)} cannot be reached: ${err.reason}`);
  }
  if (!missing.length) return;
  throw problem(
    ImportProblems.PILOT_PRIVILEGE_MISSING,
    'Import role lacks a privilege',
    `the import role ${user} lacks on the pilot's ${what} at ${where(at)}: ${missing.map((m) => m.what).join('; ')}. Grant it on the pilot, as a superuser there: ${missing.map((m) => m.sql).join(' ')} (docs/pilot.md, "The import role"), then try again`,
  );
}

interface Gap {
  what: string;
  sql: string;
}

async function controlGaps(c: Connection, user: string): Promise<Gap[]> {
  const select = (tables: readonly string[]) => ({
    what: `SELECT on ${tables.join(', ')} (the tenant, its placement, plan and wrapped data key, running sagas, the relay's backlog, the schema version)`,
    sql: `grant select on ${tables.join(', ')} to ${ident(user)};`,
  });
  const schema = await c.query<{ ok: boolean }>(`select has_schema_privilege('public', 'USAGE') as ok`);
  // Without USAGE on the schema its tables cannot even be named: both grants.
  if (!schema.rows[0]!.ok) return [{ what: 'USAGE on schema public', sql: `grant usage on schema public to ${ident(user)};` }, select(PILOT_CONTROL_READS)];
  // Tables missing altogether are the schema check's to report (an older pilot).
  const r = await c.query<{ t: string }>(
    `select t from unnest($1::text[]) t where to_regclass(format('public.%I', t)) is not null and not has_table_privilege(format('public.%I', t), 'SELECT') order by t`,
    [[...PILOT_CONTROL_READS]],
  );
  return r.rows.length ? [select(r.rows.map((x) => x.t))] : [];
}

async function shardGaps(c: Connection, user: string, database: string): Promise<Gap[]> {
  const gaps: Gap[] = [];
  const role = await c.query<{ replication: boolean }>(`select rolreplication or rolsuper as replication from pg_roles where rolname = current_user`);
  if (!role.rows[0]?.replication) gaps.push({ what: 'REPLICATION (the logical replication slot and the subscription’s connection)', sql: `alter role ${ident(user)} replication;` });
  const db = await c.query<{ ok: boolean }>(`select has_database_privilege(current_database(), 'CREATE') as ok`);
  if (!db.rows[0]!.ok) gaps.push({ what: 'CREATE on the database (the publication)', sql: `grant create on database ${ident(database)} to ${ident(user)};` });
  const owners = await c.query<{ owner: string; tables: number }>(
    `select pg_get_userbyid(c.relowner) as owner, count(*)::int as tables from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind = 'r'
       and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
       and not pg_has_role(c.relowner, 'USAGE')
     group by 1 order by 1`,
  );
  for (const o of owners.rows)
    gaps.push({
      what: `the privileges of ${o.owner}, the owner of ${o.tables} tenant table(s) (only a table's owner can publish it; its member reads and writes the tenant's rows under row-level security as the owner does)`,
      sql: `grant ${ident(o.owner)} to ${ident(user)};`,
    });
  return gaps;
}
