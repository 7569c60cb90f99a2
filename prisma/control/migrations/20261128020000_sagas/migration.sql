-- Saga engine (libs/platform/jobs/src/saga): a persisted state machine per workflow run.
-- A saga's steps run in order as BullMQ jobs; each completed step registers its compensation;
-- on a permanent failure the registered compensations run last first.

create table sagas (
  id              uuid primary key,
  type            text not null,
  tenant_id       uuid,
  status          text not null check (status in ('running', 'compensating', 'completed', 'compensated', 'failed')),
  input           jsonb not null,
  -- outputs of completed steps by step id, handed to later steps and to compensations
  state           jsonb not null default '{}'::jsonb,
  current_step    integer not null default 0,
  idempotency_key text,
  failed_step     text,
  -- id of the BullMQ job the saga waits for; resume() re-enqueues only when that job is gone
  pending_job     text,
  last_error      text,
  created_at      timestamptz(6) not null default now(),
  updated_at      timestamptz(6) not null default now(),
  finished_at     timestamptz(6),
  unique (type, idempotency_key)
);
create index sagas_unfinished_idx on sagas (status) where status in ('running', 'compensating');
create index sagas_tenant_idx on sagas (tenant_id);

create table saga_steps (
  saga_id                 uuid not null references sagas (id) on delete cascade,
  step_index              integer not null,
  step_id                 text not null,
  status                  text not null check (status in ('pending', 'running', 'completed', 'failed', 'compensating', 'compensated', 'skipped')),
  attempts                integer not null default 0,
  compensation_attempts   integer not null default 0,
  -- set in the same transaction that records the step as completed: compensations exist only for steps that succeeded
  compensation_registered boolean not null default false,
  non_retryable           boolean not null default false,
  last_error              text,
  started_at              timestamptz(6),
  completed_at            timestamptz(6),
  compensated_at          timestamptz(6),
  primary key (saga_id, step_index),
  unique (saga_id, step_id)
);

grant select, insert, update on sagas, saga_steps to hotdash_app;
