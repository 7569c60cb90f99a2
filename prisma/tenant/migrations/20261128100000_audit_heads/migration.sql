-- The head of each tenant's audit chain (issue 4): the last entry's seq and hash, written with every
-- append. Verification compares the chain's end with it, so deleting the last entries (which leaves a
-- valid shorter chain) is detected too. audit.recorded events on Kafka carry the same hashes outside
-- the database.
create table audit_heads (
  tenant_id  uuid primary key,
  seq        bigint not null check (seq > 0),
  hash       text not null,
  updated_at timestamptz(6) not null default now()
);
alter table audit_heads enable row level security;
alter table audit_heads force row level security;
create policy tenant_isolation on audit_heads
  using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
  with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
grant select, insert, update on audit_heads to hotdash_app;

-- Heads of the chains recorded so far (RLS is lifted for the backfill only: the owner runs migrations).
alter table audit_log no force row level security;
alter table audit_heads no force row level security;
alter table audit_log disable row level security;
alter table audit_heads disable row level security;
insert into audit_heads (tenant_id, seq, hash)
  select distinct on (tenant_id) tenant_id, seq, hash from audit_log order by tenant_id, seq desc;
alter table audit_log enable row level security;
alter table audit_heads enable row level security;
alter table audit_log force row level security;
alter table audit_heads force row level security;
