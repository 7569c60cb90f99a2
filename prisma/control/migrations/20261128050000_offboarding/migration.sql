-- What is left of an offboarded tenant: the record of its offboarding (who, when, what was erased,
-- and the head of its audit chain at erasure, so the erased chain stays attestable).
create table offboarding_records (
  tenant_id          uuid primary key references tenants (id),
  saga_id            uuid not null,
  requested_by       text not null,
  reason             text not null,
  audit_entries      bigint not null,
  audit_head_hash    text,
  erased             jsonb not null,
  completed_at       timestamptz(6) not null default now()
);
grant select, insert on offboarding_records to hotdash_app;
