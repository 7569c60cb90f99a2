-- Control plane: plans, tenants, shards, placements and the control-plane outbox.
-- Runs as the owner role; the application role gets only the privileges it needs.

create table plans (
  code                  text primary key,
  name                  text not null,
  monthly_ticket_quota  integer not null check (monthly_ticket_quota >= 0),
  rate_limit_per_minute integer not null check (rate_limit_per_minute > 0),
  concurrency_limit     integer not null check (concurrency_limit > 0),
  knowledge_base_bytes  bigint not null check (knowledge_base_bytes > 0),
  created_at            timestamptz(6) not null default now()
);

insert into plans (code, name, monthly_ticket_quota, rate_limit_per_minute, concurrency_limit, knowledge_base_bytes) values
  ('basic',      'Basic',      5000,  100, 50, 10737418240),
  ('enterprise', 'Enterprise', 20000, 100, 50, 10737418240);

create table tenants (
  id         uuid primary key,
  name       text not null check (length(name) between 1 and 200),
  plan_code  text not null references plans (code),
  status     text not null check (status in ('provisioning', 'active', 'suspended', 'offboarding', 'offboarded')),
  created_at timestamptz(6) not null default now(),
  updated_at timestamptz(6) not null default now()
);
create index tenants_status_idx on tenants (status);

create table shards (
  id         uuid primary key,
  name       text not null unique,
  host       text not null,
  port       integer not null check (port between 1 and 65535),
  database   text not null,
  kind       text not null check (kind in ('shared', 'dedicated')),
  status     text not null check (status in ('active', 'draining', 'retired')),
  created_at timestamptz(6) not null default now(),
  unique (host, port, database)
);

create table tenant_placements (
  tenant_id uuid primary key references tenants (id),
  shard_id  uuid not null references shards (id),
  version   integer not null default 1,
  placed_at timestamptz(6) not null default now()
);
create index tenant_placements_shard_idx on tenant_placements (shard_id);

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

-- Wakes the relay as soon as an event commits (NOTIFY is delivered at commit, never on rollback).
create function outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('hotdash_outbox', '');
  return null;
end $$;
create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();

grant select on plans to hotdash_app;
grant select, insert, update on tenants, tenant_placements to hotdash_app;
grant select, insert, update on shards to hotdash_app;
grant select, insert, update on outbox to hotdash_app;
grant usage on sequence outbox_seq_seq to hotdash_app;

-- The outbox relay connects as its own role and may only read and mark the outbox.
grant select, update (published_at) on outbox to hotdash_relay;
