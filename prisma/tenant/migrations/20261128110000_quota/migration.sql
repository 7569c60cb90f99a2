-- Quota service (issue 4): metered usage per day, quota counters per period, and reservations that
-- are exact under concurrency (a reservation takes the counter's row lock and only succeeds while
-- used + reserved + requested stays within the plan's limit). Same tenancy rules as every tenant table.

create table usage_daily (
  tenant_id  uuid not null,
  day        date not null,
  metric     text not null check (metric in ('tickets', 'model_tokens', 'api_calls', 'storage_bytes')),
  amount     bigint not null default 0,
  updated_at timestamptz(6) not null default now(),
  primary key (tenant_id, day, metric)
);

-- One row per tenant, quota'd metric and period (a month for tickets; storage never resets: its
-- period starts at the epoch).
create table quota_counters (
  tenant_id    uuid not null,
  metric       text not null check (metric in ('tickets', 'storage_bytes')),
  period_start date not null,
  used         bigint not null default 0 check (used >= 0),
  reserved     bigint not null default 0 check (reserved >= 0),
  exceeded_at  timestamptz(6),
  primary key (tenant_id, metric, period_start)
);

create table quota_reservations (
  id              uuid primary key,
  tenant_id       uuid not null,
  metric          text not null,
  period_start    date not null,
  amount          bigint not null check (amount > 0),
  status          text not null check (status in ('held', 'committed', 'released')),
  idempotency_key text,
  expires_at      timestamptz(6) not null,
  created_at      timestamptz(6) not null default now(),
  unique (tenant_id, idempotency_key)
);
create index quota_reservations_held_idx on quota_reservations (tenant_id, metric, period_start, expires_at) where status = 'held';

do $$
declare t text;
begin
  foreach t in array array['usage_daily', 'quota_counters', 'quota_reservations'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format($p$create policy tenant_isolation on %I
      using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
      with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, t);
    execute format('grant select, insert, update on %I to hotdash_app', t);
  end loop;
end $$;
