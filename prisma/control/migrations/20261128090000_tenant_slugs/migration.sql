-- Login names the tenant by a slug (issue 4): short, lower-case, unique, chosen at sign-up.
-- Tenants from before get one derived from their id.
alter table tenants add column slug text;
update tenants set slug = 't-' || replace(id::text, '-', '') where slug is null;
alter table tenants alter column slug set not null;
alter table tenants add constraint tenants_slug_key unique (slug);
alter table tenants add constraint tenants_slug_check check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$');
