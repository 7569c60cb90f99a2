#!/usr/bin/env bash
# Local infrastructure without Docker: PostgreSQL, Redis, Apache Kafka (KRaft), Weaviate, Vault, Mailpit and Jaeger on
# loopback and fixed ports (deploy/local/ports.env), and a 3-master Redis Cluster the specs also run
# against (HOTDASH_REDIS_CLUSTER_PORT and the next two). Idempotent: `up` starts only what is down.
#
#   deploy/local/infra.sh up | down | status
#   deploy/local/infra.sh up|down postgres|redis|redis-cluster|kafka|weaviate|vault|mailpit|jaeger...   (one store)
#
# State (data, logs, pids) lives in $HOTDASH_STATE (default <repo>/.local, git-ignored).
# Built or downloaded tools (Kafka jars, the Weaviate binary) live in $HOTDASH_CACHE
# (default ~/.cache/hotdash) so clean clones reuse them.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=ports.env
. "$HERE/ports.env"
# shellcheck source=nofile.sh
. "$HERE/nofile.sh"
STATE="${HOTDASH_STATE:-$ROOT/.local}"
CACHE="${HOTDASH_CACHE:-$HOME/.cache/hotdash}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")"
WEAVIATE_VERSION="${HOTDASH_WEAVIATE_VERSION:-v1.35.2}"
# Open files of weaviate-server: asked for (or the hard limit when lower), and the least it must get
# (deploy/local/nofile.sh says why: ~11 per active tenant, at most 1,000 active).
WEAVIATE_NOFILE="${HOTDASH_WEAVIATE_NOFILE:-65536}"
WEAVIATE_NOFILE_MIN="${HOTDASH_WEAVIATE_NOFILE_MIN:-16384}"
PG_BIN="${HOTDASH_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
PG_OWNER_PASSWORD="${HOTDASH_DB_OWNER_PASSWORD:-hotdash_owner_local}"
PG_APP_PASSWORD="${HOTDASH_DB_APP_PASSWORD:-hotdash_app_local}"
PG_RELAY_PASSWORD="${HOTDASH_DB_RELAY_PASSWORD:-hotdash_relay_local}"
PG_MOVER_PASSWORD="${HOTDASH_DB_MOVER_PASSWORD:-hotdash_mover_local}"
PG_SUBSCRIBER_PASSWORD="${HOTDASH_DB_SUBSCRIBER_PASSWORD:-hotdash_subscriber_local}"
# Server settings (docker-compose.yml's postgres command carries the same; a spec keeps them in step).
# Live tenant moves replicate a tenant's rows with logical replication (docs/tenant-move.md):
# wal_level=logical (a restart to change), a slot and a walsender per running move plus one per
# table being copied (2 per subscription), apply and table-sync workers on the target (3 per move),
# and a cap on the WAL a stuck slot may hold (the slot is invalidated, the move restarts).
PG_SETTINGS="-c max_connections=300 -c shared_buffers=256MB -c wal_level=logical -c max_replication_slots=16 -c max_wal_senders=16 -c max_logical_replication_workers=8 -c max_worker_processes=16 -c max_slot_wal_keep_size=1GB"
DATABASES=(hotdash_control hotdash_shard_1 hotdash_shard_2)

log() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # name seconds command...
  local name="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$name did not become healthy within ${secs}s; see its log in $STATE/$name/"
}

require() { # command hint
  command -v "$1" >/dev/null 2>&1 || die "missing prerequisite '$1': $2"
}

# Stops a process we started (by the pid we recorded), SIGKILL after `grace` seconds.
stop_pid() { # name pidfile grace_seconds
  local name="$1" pidfile="$2" grace="$3" pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 $((grace * 4))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "$(printf '%-9s' "$name") stopped"
  else log "$(printf '%-9s' "$name") not running"; fi
  rm -f "$pidfile"
}

# ---------------------------------------------------------------- PostgreSQL
pg_healthy() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$HOTDASH_PG_PORT"; }
pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STATE/pg/run" -p "$HOTDASH_PG_PORT" -U postgres "$@"; }

pg_up() {
  [ -x "$PG_BIN/postgres" ] || die "missing prerequisite PostgreSQL server: apt-get install -y postgresql"
  id postgres >/dev/null 2>&1 || die "missing prerequisite OS user 'postgres' (created by apt-get install postgresql)"
  if pg_healthy; then log "postgres  up (127.0.0.1:$HOTDASH_PG_PORT)"; pg_bootstrap; return; fi
  mkdir -p "$STATE/pg/run"
  chown -R postgres: "$STATE/pg"
  if [ ! -s "$STATE/pg/data/PG_VERSION" ]; then
    log "postgres  initialising cluster in $STATE/pg/data"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$STATE/pg/data" -U postgres -A trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$STATE/pg/initdb.log" 2>&1 \
      || die "initdb failed; see $STATE/pg/initdb.log"
  fi
  log "postgres  starting on 127.0.0.1:$HOTDASH_PG_PORT"
  # superuser connections go through the unix socket in the state folder (trust); every TCP
  # connection, the services' included, authenticates with a password.
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $HOTDASH_PG_PORT -c unix_socket_directories=$STATE/pg/run $PG_SETTINGS -c fsync=${HOTDASH_PG_FSYNC:-on} -c synchronous_commit=${HOTDASH_PG_SYNC_COMMIT:-on}" >/dev/null \
    || die "postgres failed to start; see $STATE/pg/postgres.log"
  wait_for pg 30 pg_healthy
  pg_bootstrap
}

pg_bootstrap() {
  # Roles (deploy/local/pg-roles.sql says who is who: the owner runs migrations, the application and
  # relay roles are not superusers, NOBYPASSRLS and own nothing; the mover and subscriber roles serve
  # tenant moves). The same files set up the embedded databases (libs/platform/db/src/embedded).
  pg_psql -d postgres -v owner_password="$PG_OWNER_PASSWORD" -v app_password="$PG_APP_PASSWORD" -v relay_password="$PG_RELAY_PASSWORD" \
    -v mover_password="$PG_MOVER_PASSWORD" -v subscriber_password="$PG_SUBSCRIBER_PASSWORD" -f "$HERE/pg-roles.sql" >/dev/null
  local db
  for db in "${DATABASES[@]}"; do
    if [ -z "$(pg_psql -d postgres -tAc "select 1 from pg_database where datname = '$db'")" ]; then
      log "postgres  creating database $db"
      pg_psql -d postgres -c "create database $db owner hotdash_owner"
    fi
    pg_psql -d "$db" -v db="$db" -f "$HERE/pg-database.sql" >/dev/null
  done
}

pg_down() {
  if [ -s "$STATE/pg/data/postmaster.pid" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null && log "postgres  stopped"
  else log "postgres  not running"; fi
}

# ---------------------------------------------------------------- Redis
redis_healthy() { [ "$(redis-cli -h 127.0.0.1 -p "$HOTDASH_REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
redis_up() {
  require redis-server "apt-get install -y redis-server"
  if redis_healthy; then log "redis     up (127.0.0.1:$HOTDASH_REDIS_PORT)"; return; fi
  mkdir -p "$STATE/redis"
  log "redis     starting on 127.0.0.1:$HOTDASH_REDIS_PORT"
  # noeviction: BullMQ requires that Redis never evicts its keys.
  redis-server --bind 127.0.0.1 --port "$HOTDASH_REDIS_PORT" --daemonize yes --dir "$STATE/redis" \
    --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" --appendonly yes \
    --maxmemory-policy noeviction --save "" >/dev/null
  wait_for redis 15 redis_healthy
}
redis_down() {
  if redis_healthy; then redis-cli -h 127.0.0.1 -p "$HOTDASH_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; log "redis     stopped"
  else log "redis     not running"; fi
}

# ---------------------------------------------------------------- Redis Cluster (3 masters, no replicas)
# Debian's redis-server in cluster mode, each node with its own folder (nodes.conf keeps the
# membership, so a restarted node rejoins); the specs run the platform's Redis work against it too
# (HOTDASH_REDIS_CLUSTER_NODES). Cache-like: no persistence. Cluster bus on port + 10000.
REDIS_CLUSTER_PORT="${HOTDASH_REDIS_CLUSTER_PORT:-7001}"
REDIS_CLUSTER_PORTS=("$REDIS_CLUSTER_PORT" "$((REDIS_CLUSTER_PORT + 1))" "$((REDIS_CLUSTER_PORT + 2))")
redis_node_healthy() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
redis_cluster_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }
redis_cluster_ok() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do [ "$(redis_cluster_info "$port" cluster_state)" = ok ] || return 1; done
}
redis_cluster_up() {
  require redis-cli "apt-get install -y redis-tools"
  if redis_cluster_ok; then log "redis-cluster up (127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS[2]})"; return; fi
  local port dir fresh=1
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    dir="$STATE/redis-cluster/$port"
    redis_node_healthy "$port" && continue
    mkdir -p "$dir"
    log "redis-cluster starting node 127.0.0.1:$port"
    redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
      --cluster-node-timeout 5000 --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      --appendonly no --save "" --maxmemory-policy noeviction >/dev/null
  done
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do wait_for redis-cluster 15 redis_node_healthy "$port"; done
  # Created once: every node alone and without slots. Otherwise the nodes rejoin from nodes.conf.
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    [ "$(redis_cluster_info "$port" cluster_known_nodes)" = 1 ] && [ "$(redis_cluster_info "$port" cluster_slots_assigned)" = 0 ] || fresh=0
  done
  if [ "$fresh" = 1 ]; then
    log "redis-cluster creating the cluster (3 masters)"
    redis-cli --cluster create "${REDIS_CLUSTER_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$STATE/redis-cluster/create.log" 2>&1 \
      || die "redis-cli --cluster create failed; see $STATE/redis-cluster/create.log"
  fi
  # A half-made cluster never gets there: `down`, remove $STATE/redis-cluster, `up`.
  wait_for redis-cluster 30 redis_cluster_ok
}
redis_cluster_down() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do stop_pid "redis-$port" "$STATE/redis-cluster/$port/redis.pid" 10; done
}

# ---------------------------------------------------------------- Kafka (KRaft, single node)
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
kafka_healthy() { port_open "$HOTDASH_KAFKA_PORT" && grep -q "Kafka Server started" "$STATE/kafka/server.log" 2>/dev/null; }
kafka_fetch() {
  [ -f "$KAFKA_LIBS/.complete" ] && return
  require mvn "apt-get install -y maven (Kafka's jars come from Maven Central)"
  log "kafka     fetching broker $KAFKA_VERSION jars from Maven Central"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" \
    || die "could not fetch Kafka jars with Maven"
  touch "$KAFKA_LIBS/.complete"
}
kafka_up() {
  require java "apt-get install -y openjdk-17-jre-headless (Kafka 4 needs Java 17)"
  if kafka_healthy; then log "kafka     up (127.0.0.1:$HOTDASH_KAFKA_PORT)"; return; fi
  kafka_fetch
  mkdir -p "$STATE/kafka/data"
  sed -e "s|@PORT@|$HOTDASH_KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$HOTDASH_KAFKA_CONTROLLER_PORT|g" -e "s|@DATA@|$STATE/kafka/data|g" \
    "$HERE/kafka/server.properties" >"$STATE/kafka/server.properties"
  local java=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.yaml" "-Dkafka.logs.dir=$STATE/kafka"
    -cp "$KAFKA_LIBS/*")
  if [ ! -f "$STATE/kafka/data/meta.properties" ]; then
    log "kafka     formatting KRaft storage"
    "${java[@]}" kafka.tools.StorageTool format --standalone -t "$(cat "$STATE/kafka/cluster-id" 2>/dev/null || "${java[@]}" kafka.tools.StorageTool random-uuid | tee "$STATE/kafka/cluster-id")" \
      -c "$STATE/kafka/server.properties" >"$STATE/kafka/format.log" 2>&1 || die "kafka storage format failed; see $STATE/kafka/format.log"
  fi
  log "kafka     starting on 127.0.0.1:$HOTDASH_KAFKA_PORT"
  nohup "${java[@]}" kafka.Kafka "$STATE/kafka/server.properties" >"$STATE/kafka/server.log" 2>&1 &
  echo $! >"$STATE/kafka/kafka.pid"
  wait_for kafka 90 kafka_healthy
}
kafka_down() { stop_pid kafka "$STATE/kafka/kafka.pid" 30; }

# ---------------------------------------------------------------- Weaviate
WEAVIATE_BIN="$CACHE/weaviate-$WEAVIATE_VERSION/weaviate-server"
weaviate_healthy() { curl -fs -o /dev/null "http://127.0.0.1:$HOTDASH_WEAVIATE_PORT/v1/.well-known/ready"; }
weaviate_build() {
  [ -x "$WEAVIATE_BIN" ] && return
  require go "apt-get install -y golang, or Go from the Go module proxy toolchain (Weaviate is built with go install)"
  log "weaviate  building weaviate-server $WEAVIATE_VERSION with go install (first time only; several minutes on 2 cores)"
  mkdir -p "$(dirname "$WEAVIATE_BIN")"
  GOBIN="$(dirname "$WEAVIATE_BIN")" GOFLAGS=-mod=mod go install "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION" \
    || die "go install of weaviate-server $WEAVIATE_VERSION failed"
}
weaviate_up() {
  require curl "apt-get install -y curl"
  if weaviate_healthy; then
    log "weaviate  up (127.0.0.1:$HOTDASH_WEAVIATE_PORT)"
    # A server started before the limit was set (or by hand) is checked too; its pid file is ours.
    local running; running="$(cat "$STATE/weaviate/weaviate.pid" 2>/dev/null || true)"
    if [ -n "$running" ] && kill -0 "$running" 2>/dev/null; then nofile_check weaviate "$running" "$WEAVIATE_NOFILE_MIN" || exit 1; fi
    return
  fi
  weaviate_build
  mkdir -p "$STATE/weaviate/data"
  log "weaviate  starting on 127.0.0.1:$HOTDASH_WEAVIATE_PORT (grpc $HOTDASH_WEAVIATE_GRPC_PORT)"
  # Anonymous access and no vectorizer module: the platform sends its own vectors. The subshell
  # raises its open-files limit and execs the server (same pid), which inherits it.
  (
    nofile_raise "$WEAVIATE_NOFILE"
    exec env AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true DEFAULT_VECTORIZER_MODULE=none ENABLE_MODULES= \
      PERSISTENCE_DATA_PATH="$STATE/weaviate/data" QUERY_DEFAULTS_LIMIT=25 DISABLE_TELEMETRY=true \
      GRPC_PORT="$HOTDASH_WEAVIATE_GRPC_PORT" CLUSTER_HOSTNAME=node1 CLUSTER_ADVERTISE_ADDR=127.0.0.1 \
      CLUSTER_GOSSIP_BIND_PORT=17946 CLUSTER_DATA_BIND_PORT=17947 RAFT_PORT=18300 RAFT_INTERNAL_RPC_PORT=18301 \
      RAFT_BOOTSTRAP_EXPECT=1 RAFT_JOIN=node1:18300 PROMETHEUS_MONITORING_ENABLED=false LIMIT_RESOURCES=true GOMAXPROCS=2 \
      nohup "$WEAVIATE_BIN" --host 127.0.0.1 --port "$HOTDASH_WEAVIATE_PORT" --scheme http >"$STATE/weaviate/weaviate.log" 2>&1
  ) &
  local pid=$!
  echo "$pid" >"$STATE/weaviate/weaviate.pid"
  # The limit the server really got (read from /proc once it is the server: exec done).
  wait_for weaviate 10 grep -qF "$WEAVIATE_BIN" "/proc/$pid/cmdline"
  if ! nofile_check weaviate "$pid" "$WEAVIATE_NOFILE_MIN"; then
    kill "$pid" 2>/dev/null || true
    rm -f "$STATE/weaviate/weaviate.pid"
    exit 1
  fi
  log "weaviate  open-files limit $(nofile_limit "$pid") (at least $WEAVIATE_NOFILE_MIN needed)"
  wait_for weaviate 90 weaviate_healthy
}
weaviate_down() { stop_pid weaviate "$STATE/weaviate/weaviate.pid" 20; }

# ---------------------------------------------------------------- Mailpit (local SMTP server and mail viewer)
MAILPIT_VERSION=v1.33.1
MAILPIT_BIN="$CACHE/mailpit-$MAILPIT_VERSION/mailpit"
mailpit_healthy() { curl -fs -o /dev/null "http://127.0.0.1:$HOTDASH_MAILPIT_UI_PORT/readyz"; }
mailpit_build() {
  [ -x "$MAILPIT_BIN" ] && return
  require go "apt-get install -y golang, or Go from the Go module proxy toolchain (Mailpit is built with go install)"
  log "mailpit   building mailpit $MAILPIT_VERSION with go install (first time only; a few minutes on 2 cores)"
  mkdir -p "$(dirname "$MAILPIT_BIN")"
  GOBIN="$(dirname "$MAILPIT_BIN")" GOFLAGS=-mod=mod nice -n 10 go install "github.com/axllent/mailpit@$MAILPIT_VERSION" \
    || die "go install of mailpit $MAILPIT_VERSION failed"
}
mailpit_up() {
  require curl "apt-get install -y curl"
  if mailpit_healthy; then log "mailpit   up (smtp 127.0.0.1:$HOTDASH_SMTP_PORT, web 127.0.0.1:$HOTDASH_MAILPIT_UI_PORT)"; return; fi
  mailpit_build
  mkdir -p "$STATE/mailpit"
  log "mailpit   starting: smtp 127.0.0.1:$HOTDASH_SMTP_PORT, web http://127.0.0.1:$HOTDASH_MAILPIT_UI_PORT"
  # Messages kept in its own database under $STATE/mailpit (at most 5000, the oldest dropped).
  nohup "$MAILPIT_BIN" --smtp "127.0.0.1:$HOTDASH_SMTP_PORT" --listen "127.0.0.1:$HOTDASH_MAILPIT_UI_PORT" \
    --database "$STATE/mailpit/mailpit.db" --max 5000 --smtp-auth-allow-insecure --disable-version-check \
    >"$STATE/mailpit/mailpit.log" 2>&1 &
  echo $! >"$STATE/mailpit/mailpit.pid"
  wait_for mailpit 30 mailpit_healthy
}
mailpit_down() { stop_pid mailpit "$STATE/mailpit/mailpit.pid" 10; }

# ---------------------------------------------------------------- Jaeger (local trace viewer, receives OTLP)
# cmd/jaeger (the all-in-one, on the OpenTelemetry Collector) with deploy/local/jaeger.yaml: OTLP
# gRPC and HTTP in, traces in memory, the UI; all on loopback. `npm start` points the services'
# OTEL_EXPORTER_OTLP_ENDPOINT at it. Built from its Go module: `go install …/cmd/jaeger@version`
# refuses it (its go.mod has a replace directive), so the module's source is taken from the Go
# module proxy (`go mod download`) and built as the main module, with its own go.mod and go.sum.
JAEGER_VERSION="${HOTDASH_JAEGER_VERSION:-v1.75.0}"
JAEGER_BIN="$CACHE/jaeger-$JAEGER_VERSION/jaeger"
jaeger_healthy() { curl -fs -o /dev/null "http://127.0.0.1:$HOTDASH_JAEGER_UI_PORT/" && port_open "$HOTDASH_JAEGER_OTLP_HTTP_PORT"; }
jaeger_build() {
  [ -x "$JAEGER_BIN" ] && return
  require go "apt-get install -y golang, or Go from the Go module proxy toolchain (Jaeger is built from its Go module)"
  # Jaeger's go.mod asks for Go 1.24.6 or newer: an older Go fetches a newer toolchain through the proxy.
  local gotool="${GOTOOLCHAIN:-}"
  if ! printf '%s\n' "go1.24.6" "$(go env GOVERSION)" | sort -V -C; then gotool=go1.27.3; fi
  log "jaeger    building jaeger $JAEGER_VERSION from its Go module (first time only; several minutes on 2 cores)"
  local src work
  src="$(GOTOOLCHAIN="${gotool:-local}" go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || die "go mod download of github.com/jaegertracing/jaeger@$JAEGER_VERSION failed"
  work="$(mktemp -d)"
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  mkdir -p "$(dirname "$JAEGER_BIN")"
  (cd "$work" && GOTOOLCHAIN="${gotool:-local}" GOFLAGS=-mod=mod nice -n 10 go build -trimpath -o "$JAEGER_BIN.tmp" ./cmd/jaeger) \
    || { rm -rf "$work"; die "go build of jaeger $JAEGER_VERSION failed"; }
  rm -rf "$work"
  mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
}
jaeger_up() {
  require curl "apt-get install -y curl"
  if jaeger_healthy; then log "jaeger    up (otlp http 127.0.0.1:$HOTDASH_JAEGER_OTLP_HTTP_PORT, grpc :$HOTDASH_JAEGER_OTLP_GRPC_PORT, ui http://127.0.0.1:$HOTDASH_JAEGER_UI_PORT)"; return; fi
  jaeger_build
  mkdir -p "$STATE/jaeger"
  log "jaeger    starting: otlp http 127.0.0.1:$HOTDASH_JAEGER_OTLP_HTTP_PORT, grpc 127.0.0.1:$HOTDASH_JAEGER_OTLP_GRPC_PORT, ui http://127.0.0.1:$HOTDASH_JAEGER_UI_PORT"
  HOTDASH_JAEGER_UI_PORT="$HOTDASH_JAEGER_UI_PORT" HOTDASH_JAEGER_QUERY_GRPC_PORT="$HOTDASH_JAEGER_QUERY_GRPC_PORT" \
    HOTDASH_JAEGER_OTLP_HTTP_PORT="$HOTDASH_JAEGER_OTLP_HTTP_PORT" HOTDASH_JAEGER_OTLP_GRPC_PORT="$HOTDASH_JAEGER_OTLP_GRPC_PORT" \
    nohup "$JAEGER_BIN" --config "$HERE/jaeger.yaml" >"$STATE/jaeger/jaeger.log" 2>&1 &
  echo $! >"$STATE/jaeger/jaeger.pid"
  wait_for jaeger 60 jaeger_healthy
}
jaeger_down() { stop_pid jaeger "$STATE/jaeger/jaeger.pid" 10; }

status() {
  local bad=0
  pg_healthy && log "postgres  healthy 127.0.0.1:$HOTDASH_PG_PORT" || { log "postgres  DOWN"; bad=1; }
  redis_healthy && log "redis     healthy 127.0.0.1:$HOTDASH_REDIS_PORT" || { log "redis     DOWN"; bad=1; }
  redis_cluster_ok && log "redis-cluster healthy 127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS[2]}" || { log "redis-cluster DOWN"; bad=1; }
  kafka_healthy && log "kafka     healthy 127.0.0.1:$HOTDASH_KAFKA_PORT" || { log "kafka     DOWN"; bad=1; }
  weaviate_healthy && log "weaviate  healthy 127.0.0.1:$HOTDASH_WEAVIATE_PORT" || { log "weaviate  DOWN"; bad=1; }
  bash "$HERE/vault.sh" status || bad=1
  mailpit_healthy && log "mailpit   healthy smtp 127.0.0.1:$HOTDASH_SMTP_PORT, web http://127.0.0.1:$HOTDASH_MAILPIT_UI_PORT" || { log "mailpit   DOWN"; bad=1; }
  # Jaeger is a viewer: nothing waits on it (the services' exports to it are best effort and no spec
  # uses it), so its being down is reported without failing the status.
  jaeger_healthy && log "jaeger    healthy otlp http 127.0.0.1:$HOTDASH_JAEGER_OTLP_HTTP_PORT, grpc :$HOTDASH_JAEGER_OTLP_GRPC_PORT, ui http://127.0.0.1:$HOTDASH_JAEGER_UI_PORT" || log "jaeger    down (the trace viewer: deploy/local/infra.sh up jaeger)"
  return $bad
}

# One store by name (the fault specs stop and start them one at a time).
store_fn() { # store up|down
  case "$1" in
    postgres) "pg_$2" ;;
    redis) "redis_$2" ;;
    redis-cluster) "redis_cluster_$2" ;;
    kafka) "kafka_$2" ;;
    weaviate) "weaviate_$2" ;;
    vault) bash "$HERE/vault.sh" "$2" ;;
    mailpit) "mailpit_$2" ;;
    jaeger) "jaeger_$2" ;;
    *) die "unknown store '$1' (postgres, redis, redis-cluster, kafka, weaviate, vault, mailpit, jaeger)" ;;
  esac
}

mkdir -p "$STATE"
cmd="${1:-}"; shift || true
case "$cmd" in
  up)
    if [ $# -gt 0 ]; then for s in "$@"; do store_fn "$s" up; done
    # The trace viewer is not a store the specs need (they receive spans themselves): `npm start` asks
    # for it by name (`up jaeger`), so `npm test` and CI never build it.
    else pg_up; redis_up; redis_cluster_up; kafka_up; weaviate_up; bash "$HERE/vault.sh" up; mailpit_up; log "all services healthy"; fi ;;
  down)
    if [ $# -gt 0 ]; then for s in "$@"; do store_fn "$s" down; done
    else jaeger_down; mailpit_down; bash "$HERE/vault.sh" down; weaviate_down; kafka_down; redis_cluster_down; redis_down; pg_down; fi ;;
  status) status ;;
  *) echo "usage: $0 up|down [postgres|redis|redis-cluster|kafka|weaviate|vault|mailpit|jaeger]... | status" >&2; exit 2 ;;
esac
