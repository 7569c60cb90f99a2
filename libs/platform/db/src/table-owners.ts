/**
 * One owner per table (DESIGN.md §2): the only lib whose code may read or write it. What another
 * service needs reaches it as an event into its own projection, or through the owner's API.
 * `table-owners.spec.ts` reads every lib's queries (SQL texts, Kysely, Prisma models) and fails
 * when a lib touches a table it does not own, unless the touch is one of the debts below; it also
 * fails when a debt is paid (so the list only shrinks) and when a table of the schemas has no owner.
 */
export const TABLE_OWNERS: Record<string, string> = {
  // control plane
  plans: 'provisioning',
  tenants: 'provisioning',
  shards: 'provisioning',
  tenant_placements: 'provisioning',
  offboarding_records: 'provisioning',
  ops_actions: 'provisioning',
  migration_runs: 'provisioning',
  tenant_archive_runs: 'provisioning',
  rebalance_runs: 'provisioning',
  kek_rotations: 'provisioning',
  sagas: 'platform/jobs',
  saga_steps: 'platform/jobs',
  tenant_keys: 'platform/crypto',
  subject_keys: 'platform/crypto',
  platform_operators: 'identity',
  // tenant shards
  users: 'identity',
  invitations: 'identity',
  tenant_settings: 'provisioning',
  approval_workflows: 'provisioning',
  model_configs: 'provisioning',
  auth_sessions: 'identity',
  refresh_tokens: 'identity',
  password_resets: 'identity',
  api_keys: 'identity',
  sso_configs: 'identity',
  audit_log: 'audit',
  audit_heads: 'audit',
  usage_daily: 'quota',
  quota_counters: 'quota',
  quota_reservations: 'quota',
  usage_sources: 'quota',
  kb_documents: 'knowledge',
  tickets: 'drafts',
  drafts: 'drafts',
  drafting_profiles: 'ai-drafting',
  queue_members: 'drafts',
  queue_workflows: 'drafts',
  ticket_slas: 'drafts',
  export_runs: 'provisioning',
  subject_erasures: 'drafts',
  outbox: 'platform/messaging',
  inbox: 'platform/messaging',
  mail_outbox: 'platform/messaging',
  // a tenant move's fences and markers: written by the mover (platform/db tenant-mover.ts, driven by
  // provisioning's tenant-move saga); the fences are read by every tenant transaction's opening in
  // the database itself (tenant_gate)
  tenant_fences: 'platform/db',
  tenant_move_markers: 'platform/db',
};

/**
 * Infrastructure that reads another lib's tables by design, each through one named path:
 * the shard router (placements), the tenant directory and status cache (tenants with plans),
 * the migration runner (shards), test fixtures (which also seed drafts' queue members as the
 * operator events would have).
 */
export const INFRASTRUCTURE_READS: Record<string, readonly string[]> = {
  'platform/db': ['tenants', 'plans', 'shards', 'tenant_placements'],
  'platform/auth': ['platform_operators'],
  testing: ['tenants', 'users', 'shards', 'tenant_placements', 'queue_members'],
};

/**
 * Ownership exception: whole-tenant copies. A tenant backup, its restore (provisioning's use cases)
 * and a tenant move read and write every table with a tenant_id, whichever lib owns it, because their
 * job is the tenant's data as one unit (as `erase_tenant()` erases it as one unit). They do it through
 * one path only: platform/db's tenant-tables.ts (the tables from the shard's catalogue, never a list
 * of names in code) and tenant-rows.ts (rows as text, by column name), as the application role inside
 * the tenant's own row-level security context (withTenantOnShard), with no grant beyond what that
 * role has; and a live move through tenant-mover.ts (logical replication of the catalogue's tables,
 * the queues outbox and mail_outbox moved row by row, the tenant's rows deleted from the shard it
 * left), as the owner inside the tenant's row-level security context. No table name appears in that
 * code, so the scan above cannot see these touches: this entry is their record. No other code may
 * copy another lib's rows.
 * A data export (provisioning's exports/, issue 16) reads every such table the same way, read-only, in one snapshot.
 * A rebalance's plan measures each tenant whole the same way (tenant-sizes.ts: its row count in every
 * table of the catalogue, inside its own row-level security context) and reads nothing else of them.
 */
export const WHOLE_TENANT_COPIES = {
  path: ['platform/db/src/tenant-tables.ts', 'platform/db/src/tenant-rows.ts', 'platform/db/src/tenant-mover.ts', 'platform/db/src/tenant-sizes.ts'],
  usedBy: ['provisioning'],
} as const;

/** A lib touching a table it does not own, known and to be removed (issue 13, item 4), with what replaces it. */
export interface OwnershipDebt {
  lib: string;
  table: string;
  why: string;
}

export const OWNERSHIP_DEBTS: readonly OwnershipDebt[] = [];
