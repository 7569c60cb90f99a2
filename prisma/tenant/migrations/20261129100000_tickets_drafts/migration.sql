-- The drafts service (issue 5): customer tickets, the drafts written for them and their decisions,
-- and operators' teams (team leads see their team's queue). Customer name, e-mail, subject and
-- message, draft and reply texts are FieldCipher tokens under the tenant's data key (DESIGN.md §8):
-- nothing here is readable without it. Same tenancy rules as every tenant table.

-- The team an operator works in (null: none). A team lead sees the tickets of their team's operators.
alter table users add column team text check (team is null or length(team) between 1 and 100);
create index users_team_idx on users (tenant_id, team) where team is not null;

create table tickets (
  id                  uuid primary key,
  tenant_id           uuid not null,
  -- the integration's own id: a retried delivery of the same ticket is the same ticket
  external_id         text,
  channel             text not null check (channel in ('api', 'email', 'chat', 'integration')),
  customer_name_enc   text not null,
  customer_email_enc  text not null,
  subject_enc         text,
  body_enc            text not null,
  -- drafting: a draft is being written · pending: a draft awaits approval · rejected: the draft was
  -- rejected (regenerate, or reply by hand) · draft_failed: no draft could be written (reply by hand,
  -- or regenerate) · replied: the customer got the reply
  status              text not null check (status in ('drafting', 'pending', 'rejected', 'draft_failed', 'replied')),
  -- the draft attempt the ticket waits for or shows (1, then one more per regeneration)
  attempt             integer not null default 1 check (attempt >= 1),
  current_draft_id    uuid,
  assignee_id         uuid,
  reply_body_enc      text,
  reply_draft_id      uuid,
  replied_by          text,
  replied_at          timestamptz(6),
  received_at         timestamptz(6) not null,
  created_at          timestamptz(6) not null default now(),
  updated_at          timestamptz(6) not null default now(),
  unique (tenant_id, id),
  unique (tenant_id, external_id),
  foreign key (tenant_id, assignee_id) references users (tenant_id, id)
);
-- The queues: an operator's own (a team's is its operators' own), the whole tenant's; newest first.
create index tickets_assignee_idx on tickets (tenant_id, assignee_id, created_at desc);
create index tickets_tenant_idx on tickets (tenant_id, created_at desc);

create table drafts (
  id                  uuid primary key,
  tenant_id           uuid not null,
  ticket_id           uuid not null,
  attempt             integer not null check (attempt >= 1),
  -- pending → approved | edited (approved after a change) | rejected; failed: the model gave none;
  -- superseded: a later attempt or a hand-written reply took its place
  status              text not null check (status in ('pending', 'approved', 'edited', 'rejected', 'failed', 'superseded')),
  body_enc            text,
  citations           jsonb not null default '[]',
  model               text,
  prompt_tokens       integer not null default 0 check (prompt_tokens >= 0),
  completion_tokens   integer not null default 0 check (completion_tokens >= 0),
  edited_body_enc     text,
  -- the operator's change as a unified diff of the draft (encrypted like the bodies)
  diff_enc            text,
  characters_added    integer,
  characters_removed  integer,
  reject_reason_enc   text,
  failure_code        text,
  failure_reason      text,
  decided_by          text,
  decided_at          timestamptz(6),
  created_at          timestamptz(6) not null default now(),
  unique (tenant_id, ticket_id, attempt),
  foreign key (tenant_id, ticket_id) references tickets (tenant_id, id) on delete cascade,
  check ((status = 'failed') = (body_enc is null))
);
create index drafts_decided_idx on drafts (tenant_id, decided_at) where status in ('approved', 'edited', 'rejected');

do $$
declare t text;
begin
  foreach t in array array['tickets', 'drafts'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format($p$create policy tenant_isolation on %I
      using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
      with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, t);
    execute format('grant select, insert, update on %I to hotdash_app', t);
  end loop;
end $$;
