-- The saga engine's hot-path transitions as PL/pgSQL functions. Each was one statement of
-- data-modifying CTEs sent as SQL text, which PostgreSQL parsed and planned on every call (about
-- 0.27 ms of planning per step completion on the 2-core machine, as much as its execution);
-- PL/pgSQL keeps its statements' plans for the session. The functions run as the caller (the
-- application role), so they change nothing about who may write what.
--
-- A saga's progress events (started, and each step completed but the last) do not wake the relay
-- one by one. NOTIFY was the costliest part of recording a step: transactions that notify are
-- serialised on the database's notification lock while they commit (a step's completion cost
-- ~400 µs of PostgreSQL CPU with it and ~230 µs without, 16 in flight on the 2-core machine), and
-- each wake-up costs the relay a query and a Kafka round. A running saga's next notifying event
-- comes within milliseconds (its next step's own events, its last completion, its failure), and
-- the relay polls every second regardless; it publishes in outbox order, so the quiet events go
-- out first when it wakes.

-- Inserts that set hotdash.outbox_quiet for their transaction do not notify.
create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
  if coalesce(current_setting('hotdash.outbox_quiet', true), '') <> 'on' then
    perform pg_notify('hotdash_outbox', '');
  end if;
  return null;
end $$;

-- Writes a saga's outbox rows (a JSON array of {id, tenantId, topic, key, type, version,
-- envelope}), quietly when the saga moves on at once. The setting is put back after the insert
-- (its statement trigger has fired by then), so the rest of a caller's transaction notifies as
-- usual.
create function saga_outbox(p_events jsonb, p_quiet boolean) returns void language plpgsql as $$
begin
  if jsonb_array_length(p_events) = 0 then return; end if;
  if p_quiet then perform set_config('hotdash.outbox_quiet', 'on', true); end if;
  insert into outbox (id, tenant_id, topic, key, type, version, envelope)
  select (e->>'id')::uuid, (e->>'tenantId')::uuid, e->>'topic', e->>'key', e->>'type', (e->>'version')::int, e->'envelope'
  from jsonb_array_elements(p_events) e;
  if p_quiet then perform set_config('hotdash.outbox_quiet', '', true); end if;
end $$;

-- Records a new saga, its pending steps and its started events, naming its first job. With an
-- idempotency key already used nothing is written and null is returned.
create function saga_start(p_id uuid, p_type text, p_tenant uuid, p_input jsonb, p_key text, p_first_job text, p_steps text[], p_events jsonb)
returns uuid language plpgsql as $$
begin
  insert into sagas (id, type, tenant_id, status, input, idempotency_key, pending_job)
  values (p_id, p_type, p_tenant, 'running', p_input, p_key, p_first_job)
  on conflict (type, idempotency_key) do nothing;
  if not found then return null; end if;
  insert into saga_steps (saga_id, step_index, step_id, status)
  select p_id, t.i - 1, t.s, 'pending' from unnest(p_steps) with ordinality as t(s, i);
  perform saga_outbox(p_events, true);
  return p_id;
end $$;

-- A run job's start: the saga as it is, and, when it is running at this step, the step marked
-- running with its try counted (attempt). attempt is null when the step is not to run now.
create function saga_claim_step(p_id uuid, p_index integer)
returns table (id text, type text, tenant_id text, status text, input jsonb, state jsonb, current_step integer, failed_step text,
               last_error text, pending_job text, created_at timestamptz, finished_at timestamptz, attempt integer)
language plpgsql as $$
#variable_conflict use_column
declare s sagas%rowtype; n integer;
begin
  select * into s from sagas where sagas.id = p_id;
  if not found then return; end if;
  if s.status = 'running' and s.current_step = p_index then
    update saga_steps set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now())
    where saga_id = p_id and step_index = p_index returning attempts into n;
  end if;
  return query select s.id::text, s.type, s.tenant_id::text, s.status, s.input, s.state, s.current_step, s.failed_step,
    s.last_error, s.pending_job, s.created_at, s.finished_at, n;
end $$;

-- A step's completion: the saga moves on (after the last step it completes and its forgotten input
-- fields are cleared), the step is completed with its compensation registered, the next step is
-- marked running and its try counted, and the step's outbox events are written. Only if the saga
-- was still running at this step: otherwise nothing changes and null is returned (a late
-- duplicate). Returns the next step's attempt, or 0 after the last step.
create function saga_complete_step(p_id uuid, p_index integer, p_step_id text, p_output jsonb, p_compensable boolean,
                                   p_last boolean, p_forget jsonb, p_events jsonb)
returns integer language plpgsql as $$
declare n integer;
begin
  update sagas set current_step = p_index + 1, updated_at = now(),
    state = state || jsonb_build_object(p_step_id, p_output),
    status = case when p_last then 'completed' else status end,
    finished_at = case when p_last then now() else finished_at end,
    input = case when p_last then input || p_forget else input end
  where id = p_id and status = 'running' and current_step = p_index;
  if not found then return null; end if;
  -- this step completed, and the next one (if any) marked running with its try counted
  with marked as (
    update saga_steps set
      status = case when step_index = p_index then 'completed' else 'running' end,
      completed_at = case when step_index = p_index then now() else completed_at end,
      last_error = case when step_index = p_index then null else last_error end,
      compensation_registered = case when step_index = p_index then p_compensable else compensation_registered end,
      attempts = case when step_index = p_index then attempts else attempts + 1 end,
      started_at = case when step_index = p_index then started_at else coalesce(started_at, now()) end
    where saga_id = p_id and step_index in (p_index, p_index + 1)
    returning step_index, attempts
  )
  select attempts into n from marked where step_index = p_index + 1;
  perform saga_outbox(p_events, not p_last);
  return coalesce(n, 0);
end $$;

-- A running saga's row and its steps' rows are updated at every step: room left in each page lets
-- those be HOT updates (no new index entries) instead of a new row version indexed again.
alter table sagas set (fillfactor = 75);
alter table saga_steps set (fillfactor = 75);
