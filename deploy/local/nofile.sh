#!/usr/bin/env bash
# Open-files limit (RLIMIT_NOFILE) of the local servers: raise it before exec, check it after.
# Sourced by infra.sh; also a command (deploy/local/nofile.int-spec.ts tests the check with it):
#
#   deploy/local/nofile.sh check <pid> <needed> [name]   exit 0, or 1 with what is wrong and how to fix it
#   deploy/local/nofile.sh limit <pid>                   the process's soft limit ("unlimited" or a number)
#
# Why Weaviate needs one: each loaded (ACTIVE and used) tenant keeps ~11 files open; the knowledge
# service keeps at most 1,000 tenants active (IdleTenantSweep), so ~11,000 files plus the server's
# own (connections, raft, the collections): deploy/local asks for 16,384 at least.

# The soft open-files limit of a running process, from /proc/<pid>/limits.
nofile_limit() { # pid
  local pid="$1"
  [ -r "/proc/$pid/limits" ] || return 1
  awk '/^Max open files/ { print $4; found = 1 } END { exit !found }' "/proc/$pid/limits"
}

# Raises this shell's soft limit to `want`, or to the hard limit when that is lower (an unprivileged
# process cannot go past its hard limit). Call it in the subshell that then execs the server.
nofile_raise() { # want
  local want="$1" hard
  hard="$(ulimit -Hn)"
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want="$hard"; fi
  ulimit -Sn "$want" 2>/dev/null || true
}

# Succeeds when the process may open at least `needed` files; otherwise says so on stderr and fails.
nofile_check() { # name pid needed
  local name="$1" pid="$2" needed="$3" limit
  if ! limit="$(nofile_limit "$pid")"; then
    printf '[infra] ERROR: %s: no process %s to check the open-files limit of (/proc/%s/limits unreadable)\n' "$name" "$pid" "$pid" >&2
    return 1
  fi
  if [ "$limit" != unlimited ] && [ "$limit" -lt "$needed" ]; then
    printf '[infra] ERROR: %s (pid %s) may open only %s files (/proc/%s/limits), needs at least %s: raise the hard limit for the user that runs deploy/local (ulimit -Hn %s, limits.conf nofile, systemd LimitNOFILE=, docker --ulimit nofile=%s:%s) and restart it: deploy/local/infra.sh down && deploy/local/infra.sh up\n' \
      "$name" "$pid" "$limit" "$pid" "$needed" "$needed" "$needed" "$needed" >&2
    return 1
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    check) [ $# -ge 3 ] || { echo "usage: $0 check <pid> <needed> [name]" >&2; exit 2; }; nofile_check "${4:-process}" "$2" "$3" ;;
    limit) [ $# -ge 2 ] || { echo "usage: $0 limit <pid>" >&2; exit 2; }; nofile_limit "$2" ;;
    *) echo "usage: $0 check <pid> <needed> [name] | limit <pid>" >&2; exit 2 ;;
  esac
fi
