-- The ai-drafting service's own copy of each tenant's drafting profile (issue 13, item 4: one owner
-- per table): the company name, brand voice, ordered policies and model settings a draft is written
-- with. Kept from tenant.settings-changed events (published by provisioning when the settings are
-- set or changed), each applied once through the ai-drafting consumer's inbox; ai-drafting no longer
-- reads tenants, tenant_settings or model_configs.
create table drafting_profiles (
  tenant_id         uuid primary key,
  -- the version of the last tenant.settings-changed applied: an event whose version is not higher
  -- is ignored, whatever order events arrive in. 0: backfilled below, before any event.
  version           integer not null check (version >= 0),
  changed_at        timestamptz(6) not null,
  -- null only in a backfilled profile (the company name lives in the control database): the
  -- drafter then writes without one until the next settings event
  company_name      text,
  brand_voice       text not null,
  -- in the tenant's order; empty when it has none
  policies          text[] not null,
  model_mode        text not null check (model_mode in ('platform', 'own')),
  model_provider    text not null,
  model_name        text not null,
  model_base_url    text,
  -- the tenant's own API key, a FieldCipher token under its data key (as the event carried it)
  model_api_key_enc text,
  -- null: the model adapter's default
  model_temperature double precision,
  model_max_tokens  integer check (model_max_tokens > 0),
  -- the event that set this profile (null: backfilled)
  event_id          uuid,
  updated_at        timestamptz(6) not null default now()
);

-- Existing tenants keep drafting: their profile as the shard's settings have it now, version 0, so
-- that the first settings event replaces it. The company name is not in this database and stays
-- null. The policies become one entry per line, without list bullets, blank lines or the
-- "No policies yet…" placeholder the provisioning saga used to write (it writes none now). RLS on
-- the two tables is lifted for the backfill only, inside this migration's transaction (the owner
-- runs migrations).
alter table tenant_settings no force row level security;
alter table model_configs no force row level security;
insert into drafting_profiles (tenant_id, version, changed_at, company_name, brand_voice, policies,
                               model_mode, model_provider, model_name, model_base_url, model_api_key_enc)
  select tenant_id, 0, greatest(s.updated_at, m.updated_at), null, coalesce(s.brand_voice, ''),
         coalesce((select array_agg(p.line order by p.n)
                     from (select btrim(regexp_replace(l, '^[-*[:space:]]+', '')) as line, n
                             from regexp_split_to_table(s.policies, E'\n') with ordinality as x (l, n)) p
                    where p.line <> '' and p.line !~* '^no policies yet'), '{}'),
         coalesce(m.mode, 'platform'), coalesce(m.provider, 'platform'), coalesce(m.model, 'platform-default'),
         m.base_url, m.api_key_enc
    from tenant_settings s full join model_configs m using (tenant_id);
alter table tenant_settings force row level security;
alter table model_configs force row level security;

select enable_tenant_rls('drafting_profiles');
-- No delete: a profile is replaced, never removed (erase_tenant runs as the owner).
grant select, insert, update on drafting_profiles to hotdash_app;
