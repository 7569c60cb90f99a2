-- Tenant shard: everything a tenant owns. Every table carries tenant_id, an index leading with it,
-- and row-level security enabled AND forced, with the policy of DESIGN.md section 3: the sub-select
-- evaluates the setting once per query; nullif turns the '' left behind by an ended transaction
-- into NULL, so no context means zero rows instead of an error or every row.

create table audit_log (
  id          uuid primary key,
  tenant_id   uuid not null,
  seq         bigint not null check (seq >= 1),
  event_id    uuid not null,
  event_type  text not null,
  actor_id    text,
  occurred_at timestamptz(6) not null,
  recorded_at timestamptz(6) not null,
  payload     jsonb not null,
  prev_hash   text not null,
  hash        text not null,
  unique (tenant_id, seq),
  unique (tenant_id, event_id)
);

create table outbox (
  seq          bigserial primary key,
  id           uuid not null unique,
  tenant_id    uuid not null,
  topic        text not null,
  key          text not null,
  type         text not null,
  version      integer not null,
  envelope     jsonb not null,
  created_at   timestamptz(6) not null default now(),
  published_at timestamptz(6)
);
create index outbox_tenant_idx on outbox (tenant_id);
create index outbox_unpublished_idx on outbox (seq) where published_at is null;

create table inbox (
  tenant_id    uuid not null,
  consumer     text not null,
  event_id     uuid not null,
  processed_at timestamptz(6) not null default now(),
  primary key (tenant_id, consumer, event_id)
);

create function outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('hotdash_outbox', '');
  return null;
end $$;
create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();

do $$
declare t text;
begin
  foreach t in array array['audit_log', 'outbox', 'inbox'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format($p$create policy tenant_isolation on %I
      using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
      with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, t);
  end loop;
end $$;

-- The audit log is append-only, even for the application role.
grant select, insert on audit_log to hotdash_app;
grant select, insert, update, delete on outbox to hotdash_app;
grant select, insert, delete on inbox to hotdash_app;
grant usage on sequence outbox_seq_seq to hotdash_app;

-- The outbox relay publishes every tenant's events of this shard. It connects as its own role,
-- not a superuser and without BYPASSRLS, which can read and mark the outbox (and nothing else)
-- across tenants through a policy of its own.
grant select, update (published_at) on outbox to hotdash_relay;
create policy relay_publish on outbox for all to hotdash_relay using (true) with check (true);
