import { BackupProblems, DedicatedProblems, ImportProblems, KeyProblems, MigrationProblems, MoveProblems, RebalanceProblems, ShardProblems, SignUpProblems } from '@hotdash/contracts';

/** What to do about a platform problem, by its stable code (the platform's detail says what happened). */
const HINTS: Record<string, string> = {
  'invalid-credentials': 'Check the e-mail address and the password (HOTDASH_OPS_PASSWORD, or typed at the prompt). Ops accounts are made with `npm run ops:operator -- add <email>`.',
  'validation-failed': 'Fix the fields named above and run the command again.',
  'unknown-field': 'Remove the fields named above; this hotdash-ops may be newer or older than the platform.',
  'not-found': 'Check the name or id: `hotdash-ops shards list` lists shards; a tenant id is a UUID.',
  'service-unavailable': 'A service behind the gateway did not answer: retry in a moment; if it persists, check that provisioning runs.',
  [ShardProblems.EXISTS]: 'Pick another name or location, or send exactly the same registration again (that is idempotent). `hotdash-ops shards list` shows what is registered.',
  [ShardProblems.UNREACHABLE]: 'Check host, port and database, and that the platform’s owner, application and relay roles exist on that server with the platform’s passwords; then register again.',
  [ShardProblems.ROLE_BYPASSES_RLS]: 'Make the application and relay roles NOSUPERUSER NOBYPASSRLS and members of no such role on that server, then register again.',
  [ShardProblems.NOT_PREPARED]: 'Prepare the database as the detail says (the roles may use schema public and create nothing), then register again.',
  [ShardProblems.MIGRATION_FAILED]: 'Fix what the detail names (migrations applied before it stay applied), then register again.',
  [ShardProblems.CATALOGUE_MISMATCH]: 'Fix or remove the tables and roles the detail names, then register again.',
  [ShardProblems.NOT_EMPTY]: 'Move its tenants to other shards (or offboard them) first; meanwhile `hotdash-ops shards drain <name>` stops new placements on it.',
  [ShardProblems.RETIRED]: 'Bring it back by registering it again with the same details: `hotdash-ops shards register <name> --host … --port … --database … --kind … --region …`.',
  [ShardProblems.INVALID_NAME]: 'A shard name is 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit.',
  'invalid-tenant-status': 'Check the tenant’s status with `hotdash-ops tenants show <tenant-id>`.',
  'slug-taken': 'Choose another --slug (or leave it out: one is made from the name).',
  'idempotency-key-reused': 'Use a new --idempotency-key for a new sign-up (the same key only repeats the same sign-up).',
  'dedicated-requires-enterprise': 'Use --plan enterprise with --dedicated, or leave --dedicated out.',
  'limits-unavailable': 'Nothing was changed: retry in a moment.',
  'ops-token-required': 'Run `hotdash-ops login <email>` with a platform operator account.',
  [BackupProblems.ARCHIVE_NOT_FOUND]: '`hotdash-ops backups list --tenant <tenant-id>` lists the tenant’s archives.',
  [BackupProblems.ARCHIVE_CORRUPT]: 'The archive cannot be used: restore another one (`hotdash-ops backups list`), and check the archive store’s disk.',
  [BackupProblems.ARCHIVE_OF_ANOTHER_TENANT]: 'An archive id starts with its tenant’s id: restore it for that tenant.',
  [BackupProblems.KEY_DESTROYED]: 'Nothing to do: the tenant was crypto-shredded, so its archives can never be restored (that is the point).',
  [BackupProblems.KEY_MISSING]: 'The tenant has no data key: check its provisioning (`hotdash-ops tenants progress <tenant-id>`).',
  [BackupProblems.KEY_MISMATCH]: 'The archive was written under another data key than the tenant’s live one: restore an archive taken with the current key.',
  [BackupProblems.ROWS_PRESENT]: 'Add --replace --yes to erase the tenant’s data on the target first (see it with --dry-run --replace), or restore onto an empty shard with --shard.',
  [BackupProblems.SCHEMA_OLDER]: 'Migrate the target first (`hotdash-ops migrations run`), then restore again.',
  [BackupProblems.SCHEMA_INCOMPATIBLE]: 'This archive no longer fits the current schema (a table or column was removed since): restore a newer archive.',
  [BackupProblems.SHARD_NOT_FOUND]: '`hotdash-ops shards list` lists the shards.',
  [BackupProblems.SHARD_NOT_ACTIVE]: 'Restore onto an active shard (`hotdash-ops shards list`), or activate it (`hotdash-ops shards activate <name>`).',
  [BackupProblems.SHARD_OTHER_REGION]: 'A tenant’s data stays in its region: pick a shard of the region the detail names.',
  [BackupProblems.SHARD_UNAVAILABLE]: 'Check the shard’s database is up (`hotdash-ops shards list` shows why it cannot be read), then retry.',
  [BackupProblems.AUDIT_VERIFIER_MISSING]: 'Run restores through the provisioning service app (apps/provisioning), which binds the audit verification.',
  [MoveProblems.SAME_SHARD]: 'The tenant is there already: `hotdash-ops tenants show <tenant-id>` shows its shard.',
  [MoveProblems.SHARD_NOT_ACTIVE]: 'Move it to an active shard (`hotdash-ops shards list`), or activate that one (`hotdash-ops shards activate <name>`).',
  [MoveProblems.SHARD_OTHER_REGION]: 'A tenant’s data stays in its region: pick a shard of the region the detail names. Only on the customer’s instruction, move it to another region with --allow-region-change.',
  [MoveProblems.SCHEMA_DIFFERS]: 'Migrate both shards (`hotdash-ops migrations run`), then move again.',
  [MoveProblems.TARGET_HOLDS_ROWS]: 'Erase the tenant’s rows on the target first (a restore’s leftovers, an earlier copy), or pick another shard.',
  [MoveProblems.REPLICATION_UNAVAILABLE]: 'Start the source’s PostgreSQL with wal_level=logical and replication slots (deploy/local/infra.sh, k8s/README.md), then move again.',
  [MoveProblems.REPLICA_IDENTITY_MISSING]: 'Give the tables the detail names a replica identity holding tenant_id (a migration: a unique (tenant_id, id) index, then enable_tenant_rls or ALTER TABLE … REPLICA IDENTITY USING INDEX).',
  [MoveProblems.ARCHIVE_RUN_IN_PROGRESS]: 'Wait for the backup or restore to finish (`hotdash-ops backups watch <tenant-id> <run-id>`), then move again.',
  [SignUpProblems.REGION_UNKNOWN]: 'Name a region that has an active shard (`hotdash-ops shards list` shows each shard’s region), or register a shard there first (`hotdash-ops shards register … --region <region>`).',
  [RebalanceProblems.TOO_FEW_SHARDS]: 'A rebalance needs an active shared shard to move tenants to and a second shared shard (active or draining) in the region: register one (`hotdash-ops shards register … --kind shared --region <region>`).',
  [DedicatedProblems.NOT_ENTERPRISE]: 'Only Enterprise tenants get a dedicated database: change its plan first (`hotdash-ops tenants plan <tenant-id> enterprise`).',
  [DedicatedProblems.ALREADY_DEDICATED]: 'It has one already: `hotdash-ops tenants show <tenant-id>` shows its shard; `hotdash-ops tenants share <tenant-id>` moves it back to a shared one.',
  [DedicatedProblems.NOT_DEDICATED]: 'The tenant is on a shared shard already: nothing to share back.',
  [DedicatedProblems.DATABASE_EXISTS]: 'Name another database with --database (or another shard with --shard); drop that database by hand only if it is yours and unused.',
  [DedicatedProblems.NO_FREE_SHARD]: 'Leave --reuse out (a database is then created), or register a dedicated shard first (`hotdash-ops shards register … --kind dedicated`).',
  [DedicatedProblems.NO_SHARED_SHARD]: 'Register an active shared shard in the tenant’s region (`hotdash-ops shards register … --kind shared --region <region>`), or name one with --shard.',
  [DedicatedProblems.CANNOT_CREATE_DATABASE]: 'Grant the platform’s owner role CREATEDB on that server, or create the database yourself, register it (`hotdash-ops shards register … --kind dedicated`) and dedicate with --reuse.',
  [DedicatedProblems.DOWNGRADE_ON_DEDICATED]: 'Share the tenant back first (`hotdash-ops tenants share <tenant-id>`, add --keep to keep its database for reuse), then change its plan.',
  [ImportProblems.PILOT_UNREACHABLE]: 'Check the pilot’s addresses (as the platform reaches them: --pilot-control, --pilot-shard, --pilot-weaviate), that its PostgreSQL and Weaviate answer from the platform’s provisioning hosts (and the pilot’s PostgreSQL from the target shard’s server); then try again (docs/pilot.md).',
  [ImportProblems.PILOT_CREDENTIALS_MISSING]: 'Make the import role on the pilot (docs/pilot.md, "The import role") and give it: --pilot-user (or HOTDASH_PILOT_DB_USER) and its password in HOTDASH_PILOT_DB_PASSWORD, --pilot-password-file or at the prompt.',
  [ImportProblems.PILOT_AUTH_FAILED]: 'Check the import role’s name (--pilot-user) and password (HOTDASH_PILOT_DB_PASSWORD, --pilot-password-file or the prompt) as made on the pilot, and that the pilot’s pg_hba.conf admits it from the platform’s provisioning hosts and the target shard’s server.',
  [ImportProblems.PILOT_PRIVILEGE_MISSING]: 'Run the SQL the detail gives on the pilot’s server as a superuser there (docs/pilot.md, "The import role"), then try again.',
  [ImportProblems.PILOT_SCHEMA_NEWER]: 'Upgrade the platform to the pilot’s version (or newer), migrate it (`hotdash-ops migrations run`), then import.',
  [ImportProblems.PILOT_SCHEMA_OLDER]: 'Migrate the pilot first: with the platform’s build, `set -a; . <pilot env file>; set +a; npm run db:migrate` (docs/pilot.md), then import.',
  [ImportProblems.PILOT_NOT_SINGLE_TENANT]: 'Point --pilot-env / --pilot-control at a pilot’s control database (one tenant). Tenants of a multi-tenant deployment are moved shard by shard (`hotdash-ops tenants move`).',
  [ImportProblems.PILOT_TENANT_NOT_READY]: 'Let the pilot finish provisioning its tenant (or find out why it is not active), then import.',
  [ImportProblems.PILOT_KEY_INVALID]: 'Give the pilot’s HOTDASH_KMS_MASTER_KEYS exactly as the pilot runs with it (every key, id:base64), in its env file or in HOTDASH_PILOT_KMS_MASTER_KEYS.',
  [ImportProblems.PILOT_KEY_UNUSABLE]: 'The pilot tenant’s data key is missing or destroyed: its encrypted data is unreadable, so there is nothing to import.',
  [ImportProblems.PILOT_BUSY]: 'Let the pilot finish what the detail names (a saga of its tenant, its relay catching up), then import.',
  [ImportProblems.TENANT_EXISTS]: 'The tenant (or its slug, or its vectors) is on the platform already: `hotdash-ops tenants show <tenant-id>`; an import is done once.',
  [ImportProblems.PLAN_UNKNOWN]: 'Change the tenant’s plan on the pilot to one the platform has, then import.',
  [KeyProblems.KEK_UNKNOWN]: 'Check the KEK id: `hotdash-ops keys status` lists the KEK ids that wrap live keys.',
  [KeyProblems.KEK_IS_CURRENT]: 'Put the new master key first in HOTDASH_KMS_MASTER_KEYS of every service and restart them, then rotate (docs/operations.md, "Rotating the key-encryption key").',
  [ImportProblems.SHARD_NOT_ACTIVE]: 'Import onto an active shard (`hotdash-ops shards list`), or activate that one (`hotdash-ops shards activate <name>`).',
};

/** The hint for a problem code; for a migration run in progress, the command that follows it. */
export function hintFor(code: string, detail?: string): string {
  if (code === BackupProblems.RUN_IN_PROGRESS) {
    const [, tenant, run] = detail?.match(/\/ops\/tenants\/([0-9a-f-]{36})\/backup-runs\/([0-9a-f-]{36})/) ?? [];
    return `Follow the run in progress: \`hotdash-ops backups watch ${tenant ?? '<tenant-id>'} ${run ?? '<run id>'}\`, and start again once it has finished.`;
  }
  if (code === MoveProblems.IN_PROGRESS) {
    const id = detail?.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g);
    return `Follow the move in progress: \`hotdash-ops moves watch ${id?.[0] ?? '<tenant-id>'} ${id?.[1] ?? '<run id>'}\`; one move of a tenant runs at a time.`;
  }
  if (code === DedicatedProblems.RUN_IN_PROGRESS) {
    const id = detail?.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g);
    return `Follow the run in progress: \`hotdash-ops dedicated watch ${id?.[0] ?? '<tenant-id>'} ${id?.[1] ?? '<run id>'}\`, and start again once it has finished.`;
  }
  if (code === RebalanceProblems.RUNNING) {
    const id = detail?.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/)?.[0];
    return `Follow the rebalance in progress: \`hotdash-ops rebalance watch ${id ?? '<run id>'}\`, and plan again once it has finished.`;
  }
  if (code === ImportProblems.IN_PROGRESS) {
    const id = detail?.match(/import ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/)?.[1];
    return `Follow the import in progress: \`hotdash-ops imports status ${id ?? '<import id>'}\`.`;
  }
  if (code === KeyProblems.ROTATION_RUNNING) {
    const id = detail?.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/)?.[0];
    return `Follow the rotation in progress: \`hotdash-ops keys rotation ${id ?? '<id>'}\`, and start another once it has finished.`;
  }
  if (code === MigrationProblems.RUNNING) {
    const id = detail?.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/)?.[0];
    return `Follow the run in progress: \`hotdash-ops migrations watch ${id ?? '<run id>'}\`, and start another once it has finished.`;
  }
  return HINTS[code] ?? 'See the detail above; `hotdash-ops <command> --help` describes the command.';
}
