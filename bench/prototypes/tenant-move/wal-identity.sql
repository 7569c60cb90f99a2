-- WAL written per UPDATE and DELETE under each replica identity (wal_level = logical), on a copy of
-- the tickets table (100,000 rows of 20 tenants): DEFAULT (the primary key id), USING INDEX on
-- (tenant_id, id), FULL. Scratch clusters only:
--   psql -h 127.0.0.1 -p 54339 -U postgres -d shard_b -f wal-identity.sql
\set QUIET on
drop table if exists tmove_wal;
create table tmove_wal (like tickets including defaults including constraints including indexes);
insert into tmove_wal select gen_random_uuid(), ('0193dddd-0000-7000-8000-' || lpad(to_hex(i % 20), 12, '0'))::uuid, null, 'api',
  'v1.' || md5(i::text), 'v1.' || md5(i::text), 'v1.' || md5(i::text), 'v1.' || repeat(md5(i::text), 4), 'pending', 1, null, null, null, null, null, null, now(), now(), now()
  from generate_series(1, 100000) i;
create unique index tmove_wal_tenant_id_id on tmove_wal (tenant_id, id);
vacuum analyze tmove_wal;
create temp table results (identity text, op text, rows int, wal_bytes bigint);
create or replace function pg_temp.measure(p_identity text) returns void language plpgsql as $$
declare l0 pg_lsn; n int := 5000;
begin
  execute 'alter table tmove_wal replica identity ' || p_identity;
  l0 := pg_current_wal_insert_lsn();
  update tmove_wal set status = 'replied', updated_at = now() where id in (select id from tmove_wal where status = 'pending' limit n);
  insert into results values (p_identity, 'update (5,000 rows, one statement)', n, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), l0));
  l0 := pg_current_wal_insert_lsn();
  delete from tmove_wal where id in (select id from tmove_wal limit n);
  insert into results values (p_identity, 'delete (5,000 rows, one statement)', n, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), l0));
end $$;
select pg_temp.measure('default');
select pg_temp.measure('using index tmove_wal_tenant_id_id');
select pg_temp.measure('full');
\set QUIET off
select identity, op, round(wal_bytes::numeric / rows) as wal_bytes_per_row from results order by op, identity;
drop table tmove_wal;
