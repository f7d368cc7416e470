#!/usr/bin/env bash
# THE REAL CHECK of the own cluster, for a machine with internet and a Docker engine that may run
# privileged containers (a laptop with Docker Desktop, colima, OrbStack, or Linux with Docker).
# It cannot run on the project's CI machines: they reach no registry and withhold a capability
# privileged containers need; there the tests use a stand-in node image (tests/cluster_kind.rs).
#
# Steps, each failing the script when it fails:
# 1. build onyx; use a cluster name, UI port, kubeconfig and data directory of this run's own;
# 2. `onyx cluster create` with the real pinned kindest/node image (pulled if missing);
# 3. check the node through kubectl from the host: context kind-<name>, node Ready, the default
#    StorageClass with onyx's stable pathPattern;
# 4. create again: the running node is reused;
# 5. `onyx images pull`, then `onyx cluster load`: the stack's images into the node, then again
#    (all present: skipped);
# 6. `onyx up` when this onyx has it (else `onyx render | kubectl apply --server-side`), wait for
#    the rollouts, then curl the UI on 127.0.0.1:<port> through the node port mapping;
# 7. `onyx cluster delete` + `create` + wait: PostgreSQL's data is still there;
# 8. `onyx cluster delete --purge`; the kubeconfig has no kind-<name> entries left.
#
# Usage: scripts/e2e-real.sh            (needs: cargo, kubectl, curl; ~15-30 min, ~15 GB disk)
# Env:   ONYX_E2E_KEEP=1 keeps the cluster at the end; ONYX_REGISTRY_MIRROR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

for tool in cargo kubectl curl; do
  command -v "$tool" >/dev/null || fail "$tool is needed"
done

name=e2e-$$
port=${ONYX_E2E_PORT:-3300}
work=$(mktemp -d /tmp/onyx-e2e.XXXXXX)
export KUBECONFIG="$work/kubeconfig"
export ONYX_DATA_DIR="$work/onyx"
ctx="kind-$name"
onyx_bin=target/release/onyx
onyx() { "$onyx_bin" "$@"; }
cleanup() {
  if [ "${ONYX_E2E_KEEP:-}" != 1 ]; then
    onyx cluster delete --name "$name" --purge >/dev/null 2>&1 || true
    rm -rf "$work" 2>/dev/null || sudo rm -rf "$work" 2>/dev/null || true
  else
    log "kept: cluster $name, KUBECONFIG=$KUBECONFIG, ONYX_DATA_DIR=$ONYX_DATA_DIR"
  fi
}
trap cleanup EXIT

log "1. build"
cargo build --release --locked

log "2. onyx cluster create (real kindest/node)"
onyx cluster create --name "$name" --port "$port" --wait 600
onyx cluster status --name "$name"

log "3. the cluster from the host"
[ "$(kubectl config current-context)" = "$ctx" ] || fail "current context is not $ctx"
kubectl --context "$ctx" wait --for=condition=Ready node --all --timeout=300s
kubectl --context "$ctx" get storageclass standard -o jsonpath='{.parameters.pathPattern}' \
  | grep -qF '{{ .PVC.Namespace }}/{{ .PVC.Name }}' || fail "StorageClass standard lacks the stable pathPattern"
kubectl --context "$ctx" -n kube-system rollout status daemonset/kindnet --timeout=300s

log "4. create again: reused"
onyx cluster create --name "$name" --port "$port" -o json | grep -q '"outcome": "reused"' || fail "not reused"

log "5. images into the node"
onyx images pull
onyx cluster load --name "$name"
onyx cluster load --name "$name" -o json | grep -q '"outcome": "imported"' && fail "a second load imported again"

# The stack: `onyx up` when this onyx has it; else render + apply, with the nginx Service made the
# NodePort (30080) that the node's UI port mapping points at.
deploy() {
  if onyx up --help >/dev/null 2>&1; then
    onyx up --port "$port" "$@"
  else
    onyx render --port "$port" "$@" | kubectl --context "$ctx" apply --server-side -f -
    kubectl --context "$ctx" patch service nginx --type=merge -p \
      '{"spec":{"type":"NodePort","ports":[{"name":"http","port":80,"targetPort":"http","nodePort":30080}]}}'
  fi
}
wait_stack() {
  for d in postgresql redis minio inference-model-server api-server web-server nginx; do
    kubectl --context "$ctx" rollout status "deployment/$d" --timeout=1200s
  done
  kubectl --context "$ctx" rollout status statefulset/vespa --timeout=1200s
}

log "6. the stack, and the UI on 127.0.0.1:$port"
deploy
wait_stack
curl -fsS --retry 30 --retry-delay 10 --retry-all-errors "http://127.0.0.1:$port/" >/dev/null \
  || fail "the UI does not answer on 127.0.0.1:$port"
curl -fsS "http://127.0.0.1:$port/api/health" || fail "the API does not answer through the gateway"

log "7. data survives delete + create"
marker="e2e-$(date +%s)"
kubectl --context "$ctx" exec deploy/postgresql -- sh -c \
  "psql -U \"\$POSTGRES_USER\" -d postgres -c \"CREATE TABLE IF NOT EXISTS e2e(v text); INSERT INTO e2e VALUES ('$marker');\""
kubectl --context "$ctx" get secret onyx-postgresql onyx-redis onyx-minio -o yaml >"$work/secrets.yaml"
onyx cluster delete --name "$name"
onyx cluster create --name "$name" --port "$port" --wait 600
onyx cluster load --name "$name"
deploy --reuse-secrets "$work/secrets.yaml"
kubectl --context "$ctx" rollout status deployment/postgresql --timeout=600s
kubectl --context "$ctx" exec deploy/postgresql -- sh -c \
  "psql -U \"\$POSTGRES_USER\" -d postgres -tAc 'SELECT v FROM e2e'" | grep -qx "$marker" \
  || fail "PostgreSQL's data did not survive delete + create"

log "8. delete --purge"
onyx cluster delete --name "$name" --purge
kubectl config get-contexts -o name | grep -qx "$ctx" && fail "$ctx left in the kubeconfig"
[ ! -e "$ONYX_DATA_DIR/clusters/$name/data" ] || fail "data directory left after --purge"
log "all real checks passed"
