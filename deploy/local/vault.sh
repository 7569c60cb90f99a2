#!/usr/bin/env bash
# A local key-management service for the platform's TransitKms (libs/platform/crypto): HashiCorp
# Vault's transit engine (the API OpenBao forked and kept; OpenBao's module is not served by the Go
# module proxy here), built once from its Go module and run on loopback (HOTDASH_VAULT_PORT, its
# cluster port the next one) with integrated (raft) storage under $HOTDASH_STATE/vault, so keys
# survive a restart. Idempotent: `up` builds it if needed, starts it if down, initialises it once
# (one key share), unseals it on every start, and makes sure of the transit engine, the platform's
# key (HOTDASH_KMS_TRANSIT_KEY, aes256-gcm96, derived: the tenant id is its derivation context) and
# a token limited to that key.
#
#   deploy/local/vault.sh up | down | status
#   deploy/local/vault.sh env      the HOTDASH_KMS* variables a service needs, as export lines
#   deploy/local/vault.sh rotate   a new version of the platform's key (then: hotdash-ops keys rotate)
#
# $HOTDASH_STATE/vault (0700) holds data/, vault.log, vault.pid, and the secrets (0600): unseal-key,
# root-token (operators and specs), platform-token (the services). The binary lives in
# $HOTDASH_CACHE/vault-<version>/ (default ~/.cache/hotdash).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=ports.env
. "$HERE/ports.env"
STATE="${HOTDASH_STATE:-$ROOT/.local}"
CACHE="${HOTDASH_CACHE:-$HOME/.cache/hotdash}"
PORT="${HOTDASH_VAULT_PORT:-18200}"
KEY="${HOTDASH_KMS_TRANSIT_KEY:-hotdash-kek}"
# The version is fixed: the patch below is made for it.
VAULT_VERSION=v1.21.4
VAULT_PATCH="$HERE/vault/v1.21.4-sdk-v0.21.0.patch"
# Vault's own OSS build tag plus `minimal`: the core (transit, kv, pki, …; raft and in-memory
# storage) without the cloud and database plugins, which more than double the build and the binary.
VAULT_TAGS="vault minimal"
VAULT_BIN="$CACHE/vault-$VAULT_VERSION/vault"
VDIR="$STATE/vault"
ADDR="http://127.0.0.1:$PORT"

log() { printf '[vault] %s\n' "$*"; }
die() { printf '[vault] ERROR: %s\n' "$*" >&2; exit 1; }
require() { command -v "$1" >/dev/null 2>&1 || die "missing prerequisite '$1': $2"; }
wait_for() { # what seconds command...
  local what="$1" secs="$2" i; shift 2
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "vault did not become $what within ${secs}s; see $VDIR/vault.log"
}

# sys/health's status: 200 active, 429 standby, 501 not initialised, 503 sealed, 000 not listening.
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ADDR/v1/sys/health" || true; }
listening() { [ "$(health)" != 000 ]; }
healthy() { [ "$(health)" = 200 ]; }
# The CLI with the root token in its environment (never on a command line).
vault_root() { VAULT_ADDR="$ADDR" VAULT_TOKEN="$(cat "$VDIR/root-token")" "$VAULT_BIN" "$@"; }

vault_build() {
  [ -x "$VAULT_BIN" ] && return
  require go "apt-get install -y golang, or Go from the Go module proxy toolchain (Vault is built from its module)"
  require git "apt-get install -y git (applies the patch)"
  log "building vault $VAULT_VERSION (tags: $VAULT_TAGS) from its Go module (first time only; about 5 minutes on 2 cores)"
  local mod src
  mod="$(go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$mod" ] || die "go mod download github.com/hashicorp/vault@$VAULT_VERSION failed"
  src="$CACHE/vault-src-$VAULT_VERSION.$$"
  rm -rf "$src"
  mkdir -p "$(dirname "$VAULT_BIN")"
  cp -r "$mod" "$src"
  chmod -R u+w "$src"
  # The zip has no ./api, ./sdk: the published versions go.mod requires stand in (see the patch).
  sed -i -E '/^replace github\.com\/hashicorp\/vault\/(api|sdk)[ /]/d' "$src/go.mod"
  (cd "$src" && git apply "$VAULT_PATCH") || die "the patch $VAULT_PATCH does not apply to vault $VAULT_VERSION"
  (cd "$src" && nice -n 10 env CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -tags "$VAULT_TAGS" -ldflags "-s -w" -o "$VAULT_BIN.tmp" .) \
    || die "go build of vault $VAULT_VERSION failed (its sources: $src)"
  mv "$VAULT_BIN.tmp" "$VAULT_BIN"
  rm -rf "$src"
}

write_config() {
  cat >"$VDIR/vault.hcl" <<EOF
storage "raft" {
  path    = "$VDIR/data"
  node_id = "hotdash-local"
}
listener "tcp" {
  address         = "127.0.0.1:$PORT"
  cluster_address = "127.0.0.1:$((PORT + 1))"
  tls_disable     = true
}
api_addr      = "$ADDR"
cluster_addr  = "http://127.0.0.1:$((PORT + 1))"
disable_mlock = true
ui            = false
# The platform token is made for ten years: a local stack's token should not expire under it.
max_lease_ttl = "87600h"
EOF
}

start() {
  mkdir -p "$VDIR/data"
  write_config
  log "starting on 127.0.0.1:$PORT (storage $VDIR/data)"
  nohup "$VAULT_BIN" server -config="$VDIR/vault.hcl" >>"$VDIR/vault.log" 2>&1 &
  echo $! >"$VDIR/vault.pid"
  wait_for listening 60 listening
}

# Once per data directory: one key share; the unseal key and the root token go to 0600 files.
initialise() {
  log "initialising (1 key share)"
  local out="$VDIR/init.json.tmp" key token
  curl -fsS -X PUT --data '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init" >"$out" || die "sys/init failed"
  key="$(sed -n 's/.*"keys_base64":\["\([^"]*\)".*/\1/p' "$out")"
  token="$(sed -n 's/.*"root_token":"\([^"]*\)".*/\1/p' "$out")"
  [ -n "$key" ] && [ -n "$token" ] || die "sys/init answered without a key and a token (kept in $out)"
  printf '%s\n' "$key" >"$VDIR/unseal-key"
  printf '%s\n' "$token" >"$VDIR/root-token"
  rm -f "$out" "$VDIR/platform-token"
}

unseal() {
  [ -s "$VDIR/unseal-key" ] || die "vault is sealed and $VDIR/unseal-key is missing"
  # The key goes on stdin, not on a command line.
  printf '{"key":"%s"}' "$(cat "$VDIR/unseal-key")" | curl -fsS -o /dev/null -X PUT --data @- "$ADDR/v1/sys/unseal" || die "sys/unseal failed"
}

# The transit engine, the platform's key and the services' token; each only when missing.
setup() {
  # The list read whole first: `… | grep -q` under pipefail failed whenever grep closed the pipe
  # before the CLI had written everything (SIGPIPE), and enabling transit again is refused.
  local mounts
  mounts="$(vault_root secrets list -format=json)"
  [[ $mounts == *'"transit/"'* ]] || vault_root secrets enable transit >/dev/null
  if ! vault_root read -field=latest_version "transit/keys/$KEY" >/dev/null 2>&1; then
    vault_root write -f "transit/keys/$KEY" type=aes256-gcm96 derived=true >/dev/null
    log "created transit key $KEY (aes256-gcm96, derived)"
  fi
  [ "$(vault_root read -field=derived "transit/keys/$KEY")" = true ] || die "transit key $KEY exists but is not derived: TransitKms binds the tenant as the derivation context"
  vault_root policy write hotdash-kms - >/dev/null <<EOF
# The services' token: wrap, unwrap and re-wrap with the platform's key, read its versions (and
# itself). Not rotate, not delete.
path "transit/encrypt/$KEY" { capabilities = ["update"] }
path "transit/decrypt/$KEY" { capabilities = ["update"] }
path "transit/rewrap/$KEY" { capabilities = ["update"] }
path "transit/keys/$KEY" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
EOF
  if [ ! -s "$VDIR/platform-token" ] || ! VAULT_ADDR="$ADDR" VAULT_TOKEN="$(cat "$VDIR/platform-token")" "$VAULT_BIN" token lookup >/dev/null 2>&1; then
    vault_root token create -orphan -no-default-policy -policy=hotdash-kms -ttl=87600h -display-name=hotdash-platform -field=token >"$VDIR/platform-token.tmp"
    mv "$VDIR/platform-token.tmp" "$VDIR/platform-token"
    log "wrote the services' token to $VDIR/platform-token"
  fi
}

up() {
  require curl "apt-get install -y curl"
  listening || vault_build
  mkdir -p "$VDIR"
  chmod 700 "$VDIR"
  umask 077
  if ! listening; then start; fi
  case "$(health)" in
    501) initialise; unseal ;;
    503) unseal ;;
  esac
  wait_for active 60 healthy
  setup
  log "up ($ADDR, transit key $KEY v$(vault_root read -field=latest_version "transit/keys/$KEY"))"
}

# Stops the server we started, by its recorded pid (SIGTERM, SIGKILL after 20 s). Data and keys stay.
down() {
  local pid
  pid="$(cat "$VDIR/vault.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped"
  else log "not running"; fi
  rm -f "$VDIR/vault.pid"
}

status() {
  case "$(health)" in
    200) log "healthy $ADDR" ;;
    503) log "SEALED $ADDR (deploy/local/vault.sh up unseals it)"; return 1 ;;
    501) log "NOT INITIALISED $ADDR"; return 1 ;;
    000) log "DOWN"; return 1 ;;
    *) log "UNHEALTHY ($(health)) $ADDR"; return 1 ;;
  esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env)
    [ -s "$VDIR/platform-token" ] || die "no $VDIR/platform-token: run deploy/local/vault.sh up first"
    printf 'export HOTDASH_KMS=transit HOTDASH_KMS_TRANSIT_URL=%s HOTDASH_KMS_TRANSIT_KEY=%s HOTDASH_KMS_TRANSIT_TOKEN=%s\n' "$ADDR" "$KEY" "$(cat "$VDIR/platform-token")" ;;
  rotate)
    healthy || die "vault is not up (deploy/local/vault.sh up)"
    vault_root write -f "transit/keys/$KEY/rotate" >/dev/null
    log "transit key $KEY is now at v$(vault_root read -field=latest_version "transit/keys/$KEY"): re-wrap the tenants' data keys with \`hotdash-ops keys rotate\`" ;;
  *) echo "usage: $0 up | down | status | env | rotate" >&2; exit 2 ;;
esac
