#!/usr/bin/env bash
# One move experiment: reset the tenant onto shard a, start the load, start the mover after 6 s,
# wait for both, check the result. Usage: run-move.sh <mover.ts> <source> <target> [label]
# Env passes through (DURATION_S, RATE, PREWARM, LAG_S, ...).
set -uo pipefail
cd "$(dirname "$0")/../../.."
MOVER=$1; SRC=$2; TGT=$3; LABEL=${4:-run}
bench/prototypes/tenant-move/reset.sh
OUT=/tmp/tmove-load-$LABEL.json DURATION_S=${DURATION_S:-40} timeout 150 scripts/run node -r @swc-node/register bench/prototypes/tenant-move/load.ts > /tmp/tmove-load-$LABEL.log 2>&1 &
LOAD=$!
sleep 6
SOURCE=$SRC TARGET=$TGT timeout 120 scripts/run node -r @swc-node/register bench/prototypes/tenant-move/$MOVER 2>&1 | tee /tmp/tmove-move-$LABEL.log
wait $LOAD
tail -1 /tmp/tmove-load-$LABEL.log
timeout 60 scripts/run node -r @swc-node/register bench/prototypes/tenant-move/check.ts /tmp/tmove-load-$LABEL.json
