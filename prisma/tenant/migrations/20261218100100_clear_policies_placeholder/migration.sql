-- Tenants signed up before issue 13 still hold the sign-up's placeholder as their policies ("No
-- policies yet: a tenant admin writes them in Settings → Policies."): the settings API reads
-- tenant_settings.policies one rule a line and would answer it, and publish it, as a rule. Cleared;
-- their drafting profiles already left it out (20261205110000_drafting_profiles). RLS is lifted for
-- this statement only, inside the migration's transaction (the owner runs migrations).
alter table tenant_settings no force row level security;
update tenant_settings set policies = '' where policies ~* '^\s*no policies yet';
alter table tenant_settings force row level security;
