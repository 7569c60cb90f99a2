#!/usr/bin/env bash
# Puts the moving tenant back on scratch shard a with its 100,000 seeded rows, removes every trace of
# earlier moves (fences, markers, subscriptions, slots, publications) on the scratch clusters.
set -euo pipefail
B=/usr/lib/postgresql/15/bin
T=0193aaaa-0000-7000-8000-000000000001
q() { $B/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$2" -tA -c "$3"; }
for s in "54339 shard_b" "54340 shard_c" "54339 shard_a"; do
  set -- $s
  for sub in $(q $1 $2 "select subname from pg_subscription"); do
    q $1 $2 "alter subscription $sub disable" ; q $1 $2 "alter subscription $sub set (slot_name = none)"; q $1 $2 "drop subscription $sub"
  done
done
for s in "54339 shard_a" "54339 shard_b" "54340 shard_c"; do
  set -- $s
  sleep 0.3
  q $1 $2 "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database()" >/dev/null
  for pub in $(q $1 $2 "select pubname from pg_publication"); do q $1 $2 "drop publication $pub"; done
  q $1 $2 "do \$\$ declare r record; begin for r in select tgname, tgrelid::regclass::text rel from pg_trigger where tgname like 'tmove_capture_%' loop execute format('drop trigger %I on %s', r.tgname, r.rel); end loop; end \$\$; drop table if exists tmove_changes; drop function if exists tmove_capture()"
  q $1 $2 "do \$\$ declare t text; begin for t in select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' where n.nspname = 'public' and c.relkind = 'r' loop execute format('delete from %I where tenant_id = %L', t, '$T'); end loop; end \$\$"
done
q 54339 shard_a "select tmove_seed('$T', 1.0)" >/dev/null
q 54339 tmove_control "update tenant_placements set shard_id = '00000000-0000-0000-0000-00000000000a', version = 1 where tenant_id = '$T'"
rm -f /tmp/tmove-state.json
echo "reset: tenant $T on shard a, 100,000 rows"
