-- What the provisioning saga sets up in a tenant's shard: users and invitations, approval
-- workflows, tenant settings (brand voice, policies, SLAs), model configuration, knowledge-base
-- documents, and the mail outbox. Same tenancy rules as every tenant table (see the init migration).

create table users (
  id            uuid primary key,
  tenant_id     uuid not null,
  -- e-mail is PII: stored encrypted with the tenant's data key; email_hash (sha256 of the tenant id
  -- and the lower-cased address) finds a user by address without decrypting
  email_enc     text not null,
  email_hash    text not null,
  display_name  text,
  role          text not null check (role in ('operator', 'team_lead', 'manager', 'admin')),
  status        text not null check (status in ('invited', 'active', 'removed')),
  password_hash text,
  created_at    timestamptz(6) not null default now(),
  updated_at    timestamptz(6) not null default now(),
  unique (tenant_id, email_hash),
  unique (tenant_id, id)
);

create table invitations (
  id          uuid primary key,
  tenant_id   uuid not null,
  user_id     uuid not null,
  token_hash  text not null unique,
  expires_at  timestamptz(6) not null,
  accepted_at timestamptz(6),
  created_at  timestamptz(6) not null default now(),
  -- the invitation's user must be of the same tenant: a foreign key check bypasses RLS
  foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
);
create index invitations_tenant_idx on invitations (tenant_id, user_id);

create table tenant_settings (
  tenant_id      uuid primary key,
  brand_voice    text not null,
  policies       text not null,
  sla            jsonb not null,
  updated_at     timestamptz(6) not null default now()
);

create table approval_workflows (
  id              uuid primary key,
  tenant_id       uuid not null,
  key             text not null,
  name            text not null,
  -- roles that may approve drafts in this queue, and the first-response SLA
  approver_roles  text[] not null,
  sla_minutes     integer not null check (sla_minutes > 0),
  is_default      boolean not null default false,
  created_at      timestamptz(6) not null default now(),
  unique (tenant_id, key)
);

create table model_configs (
  tenant_id     uuid primary key,
  mode          text not null check (mode in ('platform', 'own')),
  provider      text not null,
  model         text not null,
  base_url      text,
  -- the tenant's own API key, encrypted with its data key; null in platform mode
  api_key_enc   text,
  updated_at    timestamptz(6) not null default now(),
  check ((mode = 'own') = (api_key_enc is not null))
);

create table kb_documents (
  id          uuid primary key,
  tenant_id   uuid not null,
  title       text not null,
  content     text not null,
  bytes       integer not null check (bytes >= 0),
  status      text not null check (status in ('stored', 'indexed', 'failed')),
  created_at  timestamptz(6) not null default now(),
  updated_at  timestamptz(6) not null default now()
);
create index kb_documents_tenant_idx on kb_documents (tenant_id, created_at);

create table mail_outbox (
  id          uuid primary key,
  tenant_id   uuid not null,
  to_enc      text not null,
  subject     text not null,
  body        text not null,
  kind        text not null,
  created_at  timestamptz(6) not null default now(),
  sent_at     timestamptz(6)
);
create index mail_outbox_tenant_idx on mail_outbox (tenant_id, created_at);

do $$
declare t text;
begin
  foreach t in array array['users', 'invitations', 'tenant_settings', 'approval_workflows', 'model_configs', 'kb_documents', 'mail_outbox'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format($p$create policy tenant_isolation on %I
      using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
      with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, t);
    execute format('grant select, insert, update, delete on %I to hotdash_app', t);
  end loop;
end $$;
