-- Tenant backups and restores of the ops API as operations (issue 14, item 7): POST
-- /ops/tenants/{id}/backups and /restore answer at once with a run that the provisioning instance
-- which took it carries out in the background, writing each step's progress here; GET
-- /ops/tenants/{id}/backup-runs/{run} reads it from whichever instance it reaches, also after that
-- instance stopped (a run whose heartbeat is older than the limit is reported, and then recorded,
-- as interrupted). At most one run (backup or restore) per tenant at a time: the partial unique
-- index refuses a second running one. Provisioning's table; the services insert and advance runs
-- but never delete one. The archives themselves live in the archive store, not here.
create table tenant_archive_runs (
  id           uuid primary key,
  tenant_id    uuid not null,
  kind         text not null check (kind in ('backup', 'restore')),
  actor        text not null check (char_length(actor) between 1 and 200),
  -- the archive written (backup) or read (restore)
  archive      text not null check (char_length(archive) between 1 and 200),
  -- the shard read (backup) or written (restore)
  shard        text not null check (char_length(shard) between 1 and 63),
  status       text not null default 'running' check (status in ('running', 'succeeded', 'failed', 'interrupted')),
  -- per step: name, state, done, total (contracts: tenantArchiveStep)
  steps        jsonb not null default '[]',
  -- the finished run's outcome (contracts: tenantBackupResult / tenantRestoreResult); null while running
  result       jsonb,
  -- why it failed: code and message
  error        jsonb,
  started_at   timestamptz(6) not null default now(),
  heartbeat_at timestamptz(6) not null default now(),
  finished_at  timestamptz(6),
  check ((status = 'running') = (finished_at is null))
);
create unique index tenant_archive_runs_running_key on tenant_archive_runs (tenant_id) where status = 'running';
create index tenant_archive_runs_tenant_idx on tenant_archive_runs (tenant_id, started_at);
grant select, insert on tenant_archive_runs to hotdash_app;
grant update (status, steps, result, error, heartbeat_at, finished_at) on tenant_archive_runs to hotdash_app;
