-- Tenant data keys (envelope encryption, DESIGN.md section 8): one AES-256 data key per tenant,
-- wrapped by a key-encryption key of the KMS (kek_id says which, so KEKs can rotate).
-- Crypto-shredding sets wrapped_key to null and stamps destroyed_at; a destroyed key stays destroyed.
-- Read and written through libs/platform/crypto (TenantKeyring) only.

create table tenant_keys (
  tenant_id    uuid primary key references tenants (id),
  kek_id       text not null check (length(kek_id) between 1 and 64),
  wrapped_key  bytea,
  created_at   timestamptz(6) not null default now(),
  destroyed_at timestamptz(6),
  -- Live keys have a wrapped key; destroyed keys have none.
  constraint tenant_keys_shredded check ((destroyed_at is null) = (wrapped_key is not null))
);

-- Update only what rotation (kek_id, wrapped_key) and shredding (wrapped_key, destroyed_at) change.
grant select, insert on tenant_keys to hotdash_app;
grant update (kek_id, wrapped_key, destroyed_at) on tenant_keys to hotdash_app;
