#!/usr/bin/env bash
# SIGKILL drill: reset, start the load, run the mover with KILL_AT=<point> (it SIGKILLs itself
# there), then either resume it (THEN=resume) or undo it (THEN=abort), and check the result.
# Usage: run-kill.sh <point> <resume|abort> [source] [target]
set -uo pipefail
cd "$(dirname "$0")/../../.."
POINT=$1; THEN=$2; SRC=${3:-a}; TGT=${4:-c}; LABEL=kill-$POINT-$THEN
P=bench/prototypes/tenant-move
$P/reset.sh >/dev/null
OUT=/tmp/tmove-load-$LABEL.json DURATION_S=${DURATION_S:-25} timeout 150 scripts/run node -r @swc-node/register $P/load.ts > /tmp/tmove-load-$LABEL.log 2>&1 &
LOAD=$!
sleep 5
LAG_S=1 KILL_AT=$POINT SOURCE=$SRC TARGET=$TGT timeout 120 scripts/run node -r @swc-node/register $P/move-lr.ts > /tmp/tmove-move-$LABEL.log 2>&1
echo "killed (exit $?): $(grep -o '"step":"[a-z-]*"' /tmp/tmove-move-$LABEL.log | tail -2 | tr '\n' ' ')"
B=/usr/lib/postgresql/15/bin
echo "after kill: slots=$($B/psql -X -h 127.0.0.1 -p 54339 -U postgres -d shard_${SRC} -tAc "select count(*) from pg_replication_slots") subs=$($B/psql -X -h 127.0.0.1 -p $([ $TGT = c ] && echo 54340 || echo 54339) -U postgres -d shard_${TGT} -tAc "select count(*) from pg_subscription") source-fence=$($B/psql -X -h 127.0.0.1 -p 54339 -U postgres -d shard_${SRC} -tAc "select count(*) from tenant_fences where tenant_id = '0193aaaa-0000-7000-8000-000000000001'") placement=$($B/psql -X -h 127.0.0.1 -p 54339 -U postgres -d tmove_control -tAc "select shard_id::text || ' v' || version from tenant_placements")"
sleep 2
if [ "$THEN" = abort ]; then
  ACTION=abort SOURCE=$SRC TARGET=$TGT timeout 120 scripts/run node -r @swc-node/register $P/move-lr.ts 2>&1 | tail -1 | cut -c1-300
else
  LAG_S=1 SOURCE=$SRC TARGET=$TGT timeout 120 scripts/run node -r @swc-node/register $P/move-lr.ts > /tmp/tmove-move-$LABEL-resume.log 2>&1
  echo "resumed: $(grep -o '"step":"[a-z-]*"' /tmp/tmove-move-$LABEL-resume.log | tr '\n' ' ')"
  grep -E '"failed"|"post-verify"' /tmp/tmove-move-$LABEL-resume.log | cut -c1-300
fi
echo "slots left on the source: $($B/psql -X -h 127.0.0.1 -p 54339 -U postgres -d shard_${SRC} -tAc "select count(*) from pg_replication_slots")"
wait $LOAD
tail -1 /tmp/tmove-load-$LABEL.log | cut -c1-330
timeout 60 scripts/run node -r @swc-node/register $P/check.ts /tmp/tmove-load-$LABEL.json
