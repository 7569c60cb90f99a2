#!/bin/bash
# Same roles and databases as deploy/local/infra.sh (pg_bootstrap): the owner runs migrations, the
# application and relay roles are NOSUPERUSER NOBYPASSRLS and own nothing; the mover role (tenant
# moves' replication connection, used by no service) has REPLICATION, BYPASSRLS and reads everything;
# the subscriber role (a superuser: PostgreSQL 15's condition for CREATE SUBSCRIPTION) is the mover's
# on a move's target.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres <<SQL
create role hotdash_owner login nosuperuser nobypassrls createdb password '${HOTDASH_DB_OWNER_PASSWORD}';
create role hotdash_app login nosuperuser nobypassrls password '${HOTDASH_DB_APP_PASSWORD}';
create role hotdash_relay login nosuperuser nobypassrls password '${HOTDASH_DB_RELAY_PASSWORD}';
create role hotdash_mover login replication bypassrls nosuperuser password '${HOTDASH_DB_MOVER_PASSWORD}';
grant pg_read_all_data to hotdash_mover;
create role hotdash_subscriber login superuser password '${HOTDASH_DB_SUBSCRIBER_PASSWORD}';
create database hotdash_control owner hotdash_owner;
create database hotdash_shard_1 owner hotdash_owner;
create database hotdash_shard_2 owner hotdash_owner;
SQL
for db in hotdash_control hotdash_shard_1 hotdash_shard_2; do
  psql -v ON_ERROR_STOP=1 -U postgres -d "$db" -c "revoke all on schema public from public; alter schema public owner to hotdash_owner; grant usage on schema public to hotdash_app, hotdash_relay; grant connect on database $db to hotdash_app, hotdash_relay"
done
