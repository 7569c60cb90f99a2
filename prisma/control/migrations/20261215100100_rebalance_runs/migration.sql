-- Rebalance runs of the ops API as operations (issue 14, item 4): POST /ops/rebalance plans the
-- tenant moves that even out one region's shared shards and answers at once with a run that the
-- provisioning instance which took it carries out in the background, one move at a time by default,
-- writing each move's progress here; GET /ops/rebalance/runs/{id} reads it from whichever instance
-- it reaches, also after that instance stopped (a run whose heartbeat is older than the limit is
-- reported, and then recorded, as interrupted; the move it was running goes on as its own saga).
-- Provisioning's table; the services insert and advance runs but never delete one.
create table rebalance_runs (
  id           uuid primary key,
  region       text not null check (region ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  actor        text not null check (char_length(actor) between 1 and 200),
  status       text not null default 'running' check (status in ('running', 'succeeded', 'failed', 'interrupted')),
  -- moves carried out at once (1: one at a time)
  concurrency  integer not null check (concurrency between 1 and 4),
  -- the plan as made when the run started: shards before and after, spreads, pinned tenants (contracts: rebalancePlan)
  plan         jsonb not null,
  -- per planned move: its state, the move's run id, the refusal or failure (contracts: rebalanceMoveProgress)
  moves        jsonb not null default '[]',
  -- why the run stopped (a move that failed or rolled back), null otherwise
  error        text,
  started_at   timestamptz(6) not null default now(),
  heartbeat_at timestamptz(6) not null default now(),
  finished_at  timestamptz(6),
  check ((status = 'running') = (finished_at is null))
);
-- One running rebalance per region (a second start is 409 rebalance-running).
create unique index rebalance_runs_running_key on rebalance_runs (region) where status = 'running';
grant select, insert on rebalance_runs to hotdash_app;
grant update (status, moves, error, heartbeat_at, finished_at) on rebalance_runs to hotdash_app;
