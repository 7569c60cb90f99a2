-- Per-subject data keys (issue 16, item 5: crypto-shredding of one data subject). A tenant's
-- customer (data subject, by subject_ref, the blind index of the e-mail) has its own AES-256 data
-- key; the subject's personal data (ticket customer name, e-mail, subject, message, drafts, edits,
-- reasons, replies) is encrypted under it, in the shards and in every event. The key is wrapped by
-- the tenant's data key (AES-256-GCM, the tenant and the key id bound), so destroying the tenant's
-- key destroys its subjects' keys too. Kept in the control plane, not on the shard: a tenant backup
-- archives the shard's rows, and an archived copy of the key would undo its destruction. Erasing the
-- subject nulls wrapped_key and subject_ref (the row stays as a tombstone: its tokens answer
-- "destroyed"). Read and written through libs/platform/crypto only (subject-keyring.ts).
create table subject_keys (
  id           uuid primary key,
  tenant_id    uuid not null,
  subject_ref  text check (subject_ref ~ '^[0-9a-f]{64}$'),
  wrapped_key  bytea,
  created_at   timestamptz(6) not null default now(),
  destroyed_at timestamptz(6),
  constraint subject_keys_shredded check ((destroyed_at is null) = (wrapped_key is not null) and (destroyed_at is null) = (subject_ref is not null))
);
-- One live key per subject of a tenant.
create unique index subject_keys_live_ref_key on subject_keys (tenant_id, subject_ref);
create index subject_keys_tenant_idx on subject_keys (tenant_id);
grant select, insert on subject_keys to hotdash_app;
grant update (subject_ref, wrapped_key, destroyed_at) on subject_keys to hotdash_app;
