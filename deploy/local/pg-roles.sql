-- The platform's database roles, on every PostgreSQL it runs on: deploy/local/infra.sh applies this
-- file with psql (`-v owner_password=…`), the embedded databases (libs/platform/db/src/embedded)
-- apply it to PGlite, substituting the same :'…' variables. Idempotent: a role that exists is kept.
--
-- The owner runs migrations and owns every table; the application role is what services use: not a
-- superuser, NOBYPASSRLS, owns nothing, so row-level security always applies to it (the relay's role
-- likewise). The mover role is the one deliberate exception, used by no service: the connection a
-- tenant move's subscription makes to the source shard (REPLICATION for its slot; BYPASSRLS and read
-- access to every table, or the initial copy of a forced-RLS table silently copies nothing). The
-- subscriber role creates and drops that subscription on the target: PostgreSQL 15 wants a superuser
-- for it (16 has pg_create_subscription); only the mover has its password.
begin;
-- The passwords reach the block below as transaction-local settings (psql does not substitute
-- variables inside a dollar-quoted body); gone at commit.
select set_config('hotdash.owner_password', :'owner_password', true), set_config('hotdash.app_password', :'app_password', true),
       set_config('hotdash.relay_password', :'relay_password', true), set_config('hotdash.mover_password', :'mover_password', true),
       set_config('hotdash.subscriber_password', :'subscriber_password', true);
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'hotdash_owner') then
    execute format('create role hotdash_owner login nosuperuser nobypassrls createdb password %L', current_setting('hotdash.owner_password'));
  end if;
  if not exists (select 1 from pg_roles where rolname = 'hotdash_app') then
    execute format('create role hotdash_app login nosuperuser nobypassrls nocreatedb nocreaterole password %L', current_setting('hotdash.app_password'));
  end if;
  if not exists (select 1 from pg_roles where rolname = 'hotdash_relay') then
    execute format('create role hotdash_relay login nosuperuser nobypassrls nocreatedb nocreaterole password %L', current_setting('hotdash.relay_password'));
  end if;
  if not exists (select 1 from pg_roles where rolname = 'hotdash_mover') then
    execute format('create role hotdash_mover login replication bypassrls nosuperuser nocreatedb nocreaterole password %L', current_setting('hotdash.mover_password'));
  end if;
  if not pg_has_role('hotdash_mover', 'pg_read_all_data', 'member') then
    grant pg_read_all_data to hotdash_mover;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'hotdash_subscriber') then
    execute format('create role hotdash_subscriber login superuser password %L', current_setting('hotdash.subscriber_password'));
  end if;
end $$;
commit;
