-- Data exports (issue 16, item 4; CCPA): a tenant admin's export of the tenant's whole data set, or
-- of one data subject's (a customer known by e-mail: only its blind index subject_ref is kept, never
-- the address). Run in the background by provisioning's export worker, which writes the progress
-- here; the file (JSON lines, encrypted under a key derived from the tenant's data key) lives in the
-- export store until expires_at, when the sweep deletes it. A tenant-plane table: the run is the
-- tenant's, isolated by RLS like its data, and erased, moved and backed up with it.
create table export_runs (
  id             uuid primary key,
  tenant_id      uuid not null,
  kind           text not null check (kind in ('tenant', 'subject')),
  status         text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed')),
  requested_by   text not null check (char_length(requested_by) between 1 and 200),
  subject_ref    text check (subject_ref ~ '^[0-9a-f]{64}$'),
  -- [{ "table": "...", "rowsDone": n, "rowsEstimated": n }] in the order written
  progress       jsonb not null default '[]',
  rows_done      bigint not null default 0 check (rows_done >= 0),
  rows_estimated bigint not null default 0 check (rows_estimated >= 0),
  -- the stored (encrypted) file: its size and how it is sealed ({ iv, tag }), once succeeded
  bytes          bigint check (bytes >= 0),
  sealing        jsonb,
  error          text check (char_length(error) <= 2000),
  created_at     timestamptz(6) not null default now(),
  started_at     timestamptz(6),
  finished_at    timestamptz(6),
  expires_at     timestamptz(6),
  unique (tenant_id, id),
  check ((kind = 'subject') = (subject_ref is not null)),
  check ((status = 'succeeded') = (sealing is not null and expires_at is not null and bytes is not null))
);
create index export_runs_tenant_idx on export_runs (tenant_id, created_at desc);
-- One export of a tenant unfinished at a time (asked again meanwhile: 409 export-in-progress).
create unique index export_runs_unfinished_key on export_runs (tenant_id) where status in ('queued', 'running');
select enable_tenant_rls('export_runs');
grant select, insert on export_runs to hotdash_app;
grant update (status, progress, rows_done, rows_estimated, bytes, sealing, error, started_at, finished_at, expires_at) on export_runs to hotdash_app;
