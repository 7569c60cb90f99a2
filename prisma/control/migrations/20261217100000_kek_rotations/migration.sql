-- Rotation of the key-encryption key (issue 15, item 6): POST /ops/keys/rotations starts a run (the
-- kek-rotation saga of the provisioning service) that re-wraps every live tenant data key not under
-- the KMS's current KEK (or only those under one KEK) in batches; each batch's re-wraps and this
-- row's counts are written in one control-plane transaction, so the counts are exact across a killed
-- process. GET /ops/keys/rotations/{id} reads it. Provisioning's table; the services insert and
-- advance runs but never delete one.
create table kek_rotations (
  id          uuid primary key,
  actor       text not null check (char_length(actor) between 1 and 200),
  status      text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  -- only keys under this KEK are re-wrapped (null: every key not under to_kek_id)
  from_kek_id text check (char_length(from_kek_id) between 1 and 64),
  -- the KMS's current KEK when the run started: keys are re-wrapped under it
  to_kek_id   text not null check (char_length(to_kek_id) between 1 and 64),
  -- live keys to re-wrap when the run started, and re-wrapped so far
  total       integer not null check (total >= 0),
  rewrapped   integer not null default 0 check (rewrapped >= 0),
  -- per KEK id the keys were under: {"<kekId>": {"total": n, "rewrapped": m}}
  per_kek     jsonb not null default '{}',
  -- why the run stopped (a problem code and what to do), null otherwise
  code        text,
  error       text,
  started_at  timestamptz(6) not null default now(),
  updated_at  timestamptz(6) not null default now(),
  finished_at timestamptz(6),
  check ((status = 'running') = (finished_at is null))
);
-- One running rotation at a time (a second start is 409 kek-rotation-running).
create unique index kek_rotations_running_key on kek_rotations (status) where status = 'running';
grant select, insert on kek_rotations to hotdash_app;
grant update (status, rewrapped, per_kek, code, error, updated_at, finished_at) on kek_rotations to hotdash_app;

-- A rotation's batches select the live keys under a KEK (or not under the current one) in tenant order.
create index tenant_keys_live_kek_idx on tenant_keys (kek_id, tenant_id) where destroyed_at is null;
