-- Identity (issue 4): login sessions with rotating refresh tokens, API keys for integrations and
-- password resets. Secrets are never stored: only the SHA-256 of each token or key. Every token
-- starts with its tenant's id, so the gateway knows which shard to ask before it knows anything else.
-- Same tenancy rules as every tenant table (see the init migration).

-- One login: the refresh tokens of a session are one rotation family. Reusing a rotated token
-- revokes the whole session (someone else holds a copy).
create table auth_sessions (
  id             uuid primary key,
  tenant_id      uuid not null,
  user_id        uuid not null,
  created_at     timestamptz(6) not null default now(),
  -- the family's absolute lifetime: rotation never extends it
  expires_at     timestamptz(6) not null,
  revoked_at     timestamptz(6),
  revoked_reason text check (revoked_reason in ('logout', 'reuse', 'user-removed', 'password-reset', 'admin')),
  ip             text,
  user_agent     text,
  unique (tenant_id, id),
  foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
);
create index auth_sessions_tenant_idx on auth_sessions (tenant_id, user_id);

create table refresh_tokens (
  id          uuid primary key,
  tenant_id   uuid not null,
  session_id  uuid not null,
  token_hash  text not null unique,
  status      text not null check (status in ('active', 'rotated', 'revoked')),
  created_at  timestamptz(6) not null default now(),
  expires_at  timestamptz(6) not null,
  used_at     timestamptz(6),
  foreign key (tenant_id, session_id) references auth_sessions (tenant_id, id) on delete cascade
);
create index refresh_tokens_tenant_idx on refresh_tokens (tenant_id, session_id);

-- Integrations: shown once, stored hashed, scoped, revocable. A key acts with a role no higher than
-- that of the admin who created it.
create table api_keys (
  id           uuid primary key,
  tenant_id    uuid not null,
  name         text not null,
  prefix       text not null,
  key_hash     text not null unique,
  role         text not null check (role in ('operator', 'team_lead', 'manager', 'admin')),
  scopes       text[] not null,
  created_by   uuid not null,
  created_at   timestamptz(6) not null default now(),
  expires_at   timestamptz(6),
  last_used_at timestamptz(6),
  revoked_at   timestamptz(6)
);
create index api_keys_tenant_idx on api_keys (tenant_id, created_at);

create table password_resets (
  id          uuid primary key,
  tenant_id   uuid not null,
  user_id     uuid not null,
  token_hash  text not null unique,
  expires_at  timestamptz(6) not null,
  used_at     timestamptz(6),
  created_at  timestamptz(6) not null default now(),
  foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
);
create index password_resets_tenant_idx on password_resets (tenant_id, user_id);

do $$
declare t text;
begin
  foreach t in array array['auth_sessions', 'refresh_tokens', 'api_keys', 'password_resets'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format($p$create policy tenant_isolation on %I
      using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
      with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, t);
    execute format('grant select, insert, update, delete on %I to hotdash_app', t);
  end loop;
end $$;
