-- Quota meters a ticket, and a draft's model tokens, once per ticket and once per draft (issue 15,
-- item 2), keyed by what is metered rather than by the event that said so: the inbox drops an event
-- delivered twice, and this drops a second event about the same ticket or draft (a replay under a
-- new id, a producer that ran twice). One row per metered source.
create table usage_sources (
  tenant_id  uuid not null,
  metric     text not null,
  -- the ticket's id (tickets) or the draft's id (model_tokens of a draft)
  source_id  uuid not null,
  amount     bigint not null,
  metered_at timestamptz(6) not null default now(),
  primary key (tenant_id, metric, source_id)
);

select enable_tenant_rls('usage_sources');
-- Written once, never changed (erase_tenant runs as the owner).
grant select, insert on usage_sources to hotdash_app;
