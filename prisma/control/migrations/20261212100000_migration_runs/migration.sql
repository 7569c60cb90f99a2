-- Migration runs of the ops API as operations (issue 14, item 1): POST /ops/migrations answers at
-- once with a run that the provisioning instance which took it carries out in the background,
-- writing each database's progress here; GET /ops/migrations/runs/{id} reads it from whichever
-- instance it reaches, also after that instance stopped (a run whose heartbeat is older than the
-- limit is reported, and then recorded, as interrupted). Provisioning's table; the services insert
-- and advance runs but never delete one.
create table migration_runs (
  id           uuid primary key,
  actor        text not null check (char_length(actor) between 1 and 200),
  dry_run      boolean not null,
  status       text not null default 'running' check (status in ('running', 'succeeded', 'failed', 'interrupted')),
  -- per database: state, migrations to apply, applied so far, current, outcome, error (contracts: databaseMigrationProgress)
  databases    jsonb not null default '[]',
  -- the finished run (contracts: migrationRun); null while running or when interrupted
  result       jsonb,
  started_at   timestamptz(6) not null default now(),
  heartbeat_at timestamptz(6) not null default now(),
  finished_at  timestamptz(6),
  check ((status = 'running') = (finished_at is null))
);
-- Whether a run is in progress (at most one real run at a time) and the stale-heartbeat sweep.
create index migration_runs_running_idx on migration_runs (started_at) where status = 'running';
grant select, insert on migration_runs to hotdash_app;
grant update (status, databases, result, heartbeat_at, finished_at) on migration_runs to hotdash_app;
