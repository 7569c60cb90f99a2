/**
 * Every control-plane table, and what a pilot import does with the pilot tenant's rows in it
 * (docs/pilot.md). A dry run lists them; `pilot-control-tables.spec.ts` fails when a control table
 * with a tenant's rows is missing here, so a new one is decided on, not forgotten. The tenant's rows
 * on its shard are all carried, by the live move (every table with a tenant_id, from the catalogue).
 */
export const PILOT_CONTROL_TABLES: readonly { table: string; carried: boolean; how: string }[] = [
  { table: 'tenants', carried: true, how: "id, slug, name, plan and creation time as on the pilot; status provisioning during the import, the pilot's (active or suspended) at its end; region: the target shard's" },
  { table: 'tenant_keys', carried: true, how: "the data key unwrapped with the pilot's key-encryption key given to the import (never stored) and re-wrapped under the platform's: every encrypted field stays ciphertext and readable" },
  { table: 'subject_keys', carried: true, how: "the pilot's data subject keys, copied as they are right after the cut-over (the pilot takes no more writes of the tenant): wrapped under the tenant's data key, which the import keeps, so every s1 token of the pilot decrypts; a key erased on the pilot stays erased" },
  { table: 'tenant_placements', carried: false, how: "the pilot's placement names the pilot's shard: the tenant is placed on the target shard instead, at the pilot's placement version + 1" },
  { table: 'plans', carried: false, how: "the plan catalogue: the tenant keeps its plan code and the platform's plan of that code applies (a dry run lists where its limits differ from the pilot's); refused when the platform has no such plan. Quota usage is tenant rows (carried)" },
  { table: 'shards', carried: false, how: "the pilot's shard registry: its one shard is the import's source, never registered on the platform" },
  { table: 'sagas', carried: false, how: "the pilot's saga runs (its provisioning): finished history of the pilot's processes, which the platform's engine would otherwise resume; refused while one of the tenant's runs on the pilot" },
  { table: 'saga_steps', carried: false, how: 'the steps of the pilot\'s saga runs (see sagas)' },
  { table: 'outbox', carried: false, how: "the pilot's control events went to the pilot's Kafka, and the pilot's audit consumer recorded them in the tenant's audit log (carried); refused while any wait for the pilot's relay" },
  { table: 'offboarding_records', carried: false, how: 'only offboarded tenants have one, and an offboarded tenant is not imported' },
  { table: 'tenant_archive_runs', carried: false, how: "the pilot's backup runs: their archives are files in the pilot's archive store; copy them into the platform's HOTDASH_BACKUP_DIR to keep them restorable (they are sealed under the data key, which the import keeps)" },
  { table: 'ops_actions', carried: false, how: "the pilot's own ops history (no tenant's rows); the import is an ops action of the platform" },
  { table: 'migration_runs', carried: false, how: "the pilot's migration runs (no tenant's rows)" },
  { table: 'platform_operators', carried: false, how: "the pilot's ops accounts (no tenant's rows): the platform has its own ops team" },
  { table: 'rebalance_runs', carried: false, how: "rebalances of the pilot's shards (no tenant's rows)" },
];
