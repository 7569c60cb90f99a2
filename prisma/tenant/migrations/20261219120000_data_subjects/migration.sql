-- Data subjects (issue 16, item 5). A ticket's customer is a data subject known by e-mail, which is
-- stored encrypted; subject_ref is its blind index (platform/crypto subject-ref.ts: HMAC-SHA256 of
-- the normalised address under a key derived from the tenant's data key), written by drafts when it
-- stores the ticket, so a subject's tickets are found by an index without decrypting anything.
-- Null for tickets stored before (erasure and export find those by decrypting their e-mail).
alter table tickets add column subject_ref text check (subject_ref ~ '^[0-9a-f]{64}$');
create index tickets_subject_idx on tickets (tenant_id, subject_ref);

-- Erasing a subject deletes its tickets (their drafts go with them, on delete cascade). drafts, the
-- owner, is the only service that does.
grant delete on tickets, drafts to hotdash_app;

-- An erasure of one data subject (GDPR, POST /privacy/erasures): asked by a tenant admin, run in the
-- background by the drafts service (owner of the subject's tickets and drafts), step by step
-- (progress), ending with a certificate signed by the platform (what was erased where). Only the
-- subject's reference is kept, never the address.
create table subject_erasures (
  id           uuid primary key,
  tenant_id    uuid not null,
  subject_ref  text not null check (subject_ref ~ '^[0-9a-f]{64}$'),
  requested_by text not null check (char_length(requested_by) between 1 and 200),
  status       text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  -- [{ "step": "...", "status": "pending|done", "erased": n, "detail": "..." }] in order
  steps        jsonb not null default '[]',
  -- the signed certificate ({ certificate, signature }) once succeeded
  certificate  jsonb,
  error        text,
  started_at   timestamptz(6) not null default now(),
  updated_at   timestamptz(6) not null default now(),
  finished_at  timestamptz(6),
  unique (tenant_id, id),
  check ((status = 'running') = (finished_at is null)),
  check ((status = 'succeeded') = (certificate is not null))
);
create index subject_erasures_tenant_idx on subject_erasures (tenant_id, started_at desc);
-- One erasure of a subject running at a time (asked again, the running one answers).
create unique index subject_erasures_running_key on subject_erasures (tenant_id, subject_ref) where status = 'running';
select enable_tenant_rls('subject_erasures');
grant select, insert on subject_erasures to hotdash_app;
grant update (status, steps, certificate, error, updated_at, finished_at) on subject_erasures to hotdash_app;
