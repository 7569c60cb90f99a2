-- What every platform database (control, each shard) gets before its migrations: the owner owns the
-- public schema, nobody else may create in it; the application and relay roles may use it and connect.
-- Applied by deploy/local/infra.sh with psql (`-v db=<database>`) and by the embedded databases
-- (libs/platform/db/src/embedded), which substitute :"db" the same way. Idempotent.
revoke all on schema public from public;
alter schema public owner to hotdash_owner;
grant usage on schema public to hotdash_app, hotdash_relay;
grant connect on database :"db" to hotdash_app, hotdash_relay;
