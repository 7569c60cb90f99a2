import type { Client } from 'pg';

export interface CatalogViolation {
  table: string;
  problem: string;
}

/**
 * The SECURITY DEFINER functions of a tenant shard the application role may execute. Each runs as
 * the owner, beyond what the role's policies let it see, so each is named here and in the header of
 * prisma/tenant/schema.prisma: erase_tenant (one tenant's rows, offboarding), stored_documents_sweep
 * (ids and versions of documents waiting to be indexed, across tenants: knowledge's recovery sweep),
 * clear_document_sources_sweep (ids of documents whose source is still in the clear, across tenants:
 * knowledge's sealing sweep), sla_overdue_tenants (ids of tenants with an approval SLA past due,
 * across tenants: drafts' SLA sweep).
 */
export const APP_DEFINER_FUNCTIONS: readonly string[] = ['erase_tenant', 'stored_documents_sweep', 'clear_document_sources_sweep', 'sla_overdue_tenants'];

const EXPECTED_QUAL = /^\(tenant_id = \(\s*SELECT \(NULLIF\(current_setting\('app\.tenant_id'::text, true\), ''::text\)\)::uuid AS "?nullif"?\s*\)\)$/i;

/**
 * Checks a tenant shard's catalogue against the tenancy rules (DESIGN.md section 3): every table
 * with a tenant_id column has it NOT NULL, an index leading with it, row-level security enabled and
 * forced, the tenant_isolation policy for everyone with the exact USING and WITH CHECK
 * expressions, and a replica identity that holds tenant_id (tenant moves; `enable_tenant_rls` sets it
 * from the primary key or a unique (tenant_id, …) index); the application role is no superuser,
 * cannot bypass RLS, owns nothing and may execute no SECURITY DEFINER function but those of
 * APP_DEFINER_FUNCTIONS.
 * Returns the violations (none means the shard is sound).
 */
export async function checkTenantCatalog(client: Client, appRole: string): Promise<CatalogViolation[]> {
  const violations: CatalogViolation[] = [];
  const role = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>('select rolsuper, rolbypassrls from pg_roles where rolname = $1', [appRole]);
  if (!role.rows[0]) violations.push({ table: '-', problem: `role ${appRole} does not exist` });
  else {
    if (role.rows[0].rolsuper) violations.push({ table: '-', problem: `${appRole} is a superuser` });
    if (role.rows[0].rolbypassrls) violations.push({ table: '-', problem: `${appRole} has BYPASSRLS` });
  }
  const owned = await client.query<{ relname: string }>(
    `select c.relname from pg_class c join pg_roles r on r.oid = c.relowner join pg_namespace n on n.oid = c.relnamespace
     where r.rolname = $1 and n.nspname not in ('pg_catalog', 'information_schema')`,
    [appRole],
  );
  for (const o of owned.rows) violations.push({ table: o.relname, problem: `owned by ${appRole}` });
  const definers = await client.query<{ proname: string }>(
    `select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema') and has_function_privilege($1, p.oid, 'EXECUTE') order by p.proname`,
    [appRole],
  );
  for (const f of definers.rows)
    if (!APP_DEFINER_FUNCTIONS.includes(f.proname)) violations.push({ table: f.proname, problem: `security definer function executable by ${appRole}` });

  // identity_ok: the replica identity holds tenant_id (the primary key for DEFAULT, the chosen index
  // for USING INDEX; FULL holds every column).
  const tables = await client.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean; attnotnull: boolean; identity_ok: boolean }>(
    `select c.relname, c.relrowsecurity, c.relforcerowsecurity, a.attnotnull,
       c.relreplident = 'f' or exists (
         select 1 from pg_index i
         where i.indrelid = c.oid and a.attnum = any(i.indkey)
           and ((c.relreplident = 'd' and i.indisprimary) or (c.relreplident = 'i' and i.indisreplident))) as identity_ok
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
     where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname`,
  );
  for (const t of tables.rows) {
    if (!t.attnotnull) violations.push({ table: t.relname, problem: 'tenant_id is nullable' });
    if (!t.relrowsecurity) violations.push({ table: t.relname, problem: 'row level security is not enabled' });
    if (!t.relforcerowsecurity) violations.push({ table: t.relname, problem: 'row level security is not forced' });
    // A tenant move publishes the table row-filtered on tenant_id: without it in the replica
    // identity, PostgreSQL refuses every UPDATE and DELETE on the table (every tenant's) while a move runs.
    if (!t.identity_ok) violations.push({ table: t.relname, problem: 'replica identity lacks tenant_id' });
    const policies = await client.query<{ policyname: string; roles: string[]; cmd: string; qual: string | null; with_check: string | null; permissive: string }>(
      `select policyname, roles::text[] as roles, cmd, qual, with_check, permissive from pg_policies where schemaname = 'public' and tablename = $1`,
      [t.relname],
    );
    const iso = policies.rows.find((p) => p.policyname === 'tenant_isolation');
    if (!iso) violations.push({ table: t.relname, problem: 'tenant_isolation policy missing' });
    else {
      if (iso.cmd !== 'ALL' || !iso.roles.includes('public')) violations.push({ table: t.relname, problem: 'tenant_isolation must apply to ALL commands for PUBLIC' });
      if (!iso.qual || !EXPECTED_QUAL.test(iso.qual)) violations.push({ table: t.relname, problem: `tenant_isolation USING is ${iso.qual}` });
      if (!iso.with_check || !EXPECTED_QUAL.test(iso.with_check)) violations.push({ table: t.relname, problem: `tenant_isolation WITH CHECK is ${iso.with_check}` });
    }
    // Any other permissive policy that reaches the application role would widen what it sees.
    for (const p of policies.rows) {
      if (p.policyname === 'tenant_isolation') continue;
      if (p.permissive === 'PERMISSIVE' && (p.roles.includes('public') || p.roles.includes(appRole)))
        violations.push({ table: t.relname, problem: `policy ${p.policyname} widens access for ${appRole}` });
    }
    const idx = await client.query(
      `select 1 from pg_index i join pg_class c on c.oid = i.indrelid
       join pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0]
       where c.relname = $1 and a.attname = 'tenant_id' limit 1`,
      [t.relname],
    );
    if (!idx.rowCount) violations.push({ table: t.relname, problem: 'no index leads with tenant_id' });
  }
  return violations;
}
