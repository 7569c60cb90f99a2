#!/bin/sh
# The image's entrypoint (Dockerfile): runs the service its first argument (or SERVICE) names.
# `migrate` applies the migrations to the control database and every shard, then creates the Kafka
# topics (the compose `migrate` service and the Kubernetes migrate Job).
set -eu
service="${1:-${SERVICE:-}}"
case "$service" in
  gateway|provisioning|drafts|knowledge|ai-drafting|quota|audit|relay)
    exec node -r @swc-node/register "apps/$service/src/main.ts" ;;
  migrate)
    node -r @swc-node/register libs/platform/db/src/migrate/cli.ts
    exec node -r @swc-node/register libs/platform/messaging/src/topics-cli.ts ;;
  *)
    echo "usage: hotdash-entrypoint <gateway|provisioning|drafts|knowledge|ai-drafting|quota|audit|relay|migrate> (or SERVICE=<name>)" >&2
    exit 64 ;;
esac
