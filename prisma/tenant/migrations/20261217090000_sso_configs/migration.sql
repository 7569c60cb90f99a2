-- Single sign-on per tenant (issue 16 item 2): the tenant's OpenID Connect identity provider, set by
-- its admins (identity's /sso routes). One row per tenant. The client secret is a FieldCipher token
-- under the tenant's data key (field sso_configs.client_secret), never returned by the API.
-- verified_at: the first SSO sign-in that succeeded with this issuer and client id (cleared when
-- either changes); password sign-in can be turned off only once it is set, so a tenant always keeps
-- a way in.
create table sso_configs (
  tenant_id         uuid primary key,
  issuer            text not null check (length(issuer) between 8 and 500),
  client_id         text not null check (length(client_id) between 1 and 200),
  client_secret_enc text,
  allowed_domains   text[] not null check (cardinality(allowed_domains) between 1 and 50),
  -- the ID token claim whose value(s) pick the role of a just-in-time operator (null: none)
  role_claim        text check (role_claim is null or length(role_claim) between 1 and 100),
  -- claim value → role (operator, team_lead, manager, admin); no match: operator
  role_mapping      jsonb not null default '{}',
  password_sign_in  boolean not null default true,
  verified_at       timestamptz(6),
  created_at        timestamptz(6) not null default now(),
  updated_at        timestamptz(6) not null default now(),
  check (password_sign_in or verified_at is not null)
);

select enable_tenant_rls('sso_configs');
grant select, insert, update, delete on sso_configs to hotdash_app;
