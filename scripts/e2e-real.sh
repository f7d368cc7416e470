#!/usr/bin/env bash
# THE REAL CHECK of the own cluster, for a machine with internet and a Docker engine that may run
# privileged containers (a laptop with Docker Desktop, colima, OrbStack, or Linux with Docker).
# It cannot run on the project's CI machines: they reach no registry and withhold a capability
# privileged containers need; there the tests use a stand-in node image (tests/it/cluster_kind/).
#
# Steps, each failing the script when it fails:
# 1. build onyx; use a cluster name, UI port, kubeconfig and data directory of this run's own;
# 2. `onyx cluster create` with the real pinned kindest/node image (pulled if missing);
# 3. check the node through kubectl from the host: context kind-<name>, node Ready, the default
#    StorageClass with onyx's stable pathPattern (with the trailing `/` local-path-provisioner
#    v0.0.34 requires);
# 4. create again: the running node is reused;
# 5. `onyx images pull`, then `onyx cluster load`: the stack's images into the node, then again
#    (all present: skipped);
# 6. `onyx cluster delete` + `create`: the data volume `<name>-data` is still there; `delete
#    --purge` removes it and the kubeconfig entries;
# 7. the main job: `onyx up` on onyx's own cluster (`onyx`; the script refuses to run where one
#    exists), nginx and the UI and the API through 127.0.0.1:<port>, `status`, the idempotent
#    re-run, `doctor`;
# 7b. indexing (issue #12): the background workers are ready; through the API (Onyx v2.3.0 routes:
#    fastapi-users /auth/register and /auth/login, /manage/admin/connector/file/upload,
#    /manage/admin/connector, /manage/credential, /manage/connector/{id}/credential/{id},
#    /manage/admin/cc-pair/{id}, /admin/search) a user is made, a small text file uploaded as a
#    file connector, indexed by the workers, and found by a search;
# 8. every claim is Bound with its volume at `/var/local-path-provisioner/<namespace>/<claim>`
#    (in the data volume `onyx-data`); a PostgreSQL row and the passwords survive `onyx down` +
#    `onyx up` (the node stopped and started again, Ready, nothing imported again); the re-run of
#    step 7 imports nothing either;
# 8b. the PostgreSQL row survives `onyx cluster delete` + `onyx up` (a new node, the same data
#    volume; the claims provisioned again at the same directories) and the stack is healthy;
# 9. `onyx destroy` keeps the claims, `destroy --data` removes them, `cluster delete --purge`.
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
    [ "${made_own:-}" = 1 ] && { onyx cluster delete --purge >/dev/null 2>&1 || true; }
    rm -rf "$work" 2>/dev/null || sudo rm -rf "$work" 2>/dev/null || true
  else
    log "kept: cluster $name, KUBECONFIG=$KUBECONFIG, ONYX_DATA_DIR=$ONYX_DATA_DIR"
  fi
}
trap cleanup EXIT

log "1. build"
cargo build --release --locked
onyx cluster list -o json | grep -q '"name": "onyx"' \
  && fail "a cluster named onyx exists; this script makes and deletes its own (delete yours first or run elsewhere)"

log "2. onyx cluster create (real kindest/node)"
onyx cluster create --name "$name" --port "$port" --wait 600
onyx cluster status --name "$name"

log "3. the cluster from the host"
[ "$(kubectl config current-context)" = "$ctx" ] || fail "current context is not $ctx"
kubectl --context "$ctx" wait --for=condition=Ready node --all --timeout=300s
kubectl --context "$ctx" get storageclass standard -o jsonpath='{.parameters.pathPattern}' \
  | grep -qxF '{{ .PVC.Namespace }}/{{ .PVC.Name }}/' || fail "StorageClass standard lacks the stable pathPattern"
kubectl --context "$ctx" -n kube-system rollout status daemonset/kindnet --timeout=300s

log "4. create again: reused"
onyx cluster create --name "$name" --port "$port" -o json | grep -q '"outcome": "reused"' || fail "not reused"

log "5. images into the node"
onyx images pull
onyx cluster load --name "$name"
onyx cluster load --name "$name" -o json | grep -q '"outcome": "imported"' && fail "a second load imported again"

log "6. the named cluster's data volume survives delete + create, and goes with --purge"
# (The data itself — a PostgreSQL row — across delete + create is step 8b, on the own cluster.)
onyx cluster status --name "$name" -o json | grep -q "\"data_volume\": \"$name-data\"" \
  || fail "the cluster's data is not in the volume $name-data"
onyx cluster delete --name "$name"
onyx cluster create --name "$name" --port "$port" --wait 600
onyx cluster status --name "$name" -o json | grep -q "\"data_volume\": \"$name-data\"" \
  || fail "the data volume did not survive delete + create"
onyx cluster delete --name "$name" --purge
kubectl config get-contexts -o name | grep -qx "$ctx" && fail "$ctx left in the kubeconfig"
if command -v docker >/dev/null; then
  docker volume inspect "$name-data" >/dev/null 2>&1 && fail "the data volume $name-data is left after --purge"
fi

# The main job, as a user runs it: `onyx up` on onyx's own cluster (named onyx).
ctx=kind-onyx
log "7. onyx up: own cluster, images, stack, the UI on 127.0.0.1:$port"
made_own=1
onyx up --port "$port" --no-browser --timeout 30m
curl -fsS "http://127.0.0.1:$port/nginx-health" | grep -qx ok || fail "nginx does not answer on the UI port"
curl -fsS --retry 30 --retry-delay 10 --retry-all-errors "http://127.0.0.1:$port/" >/dev/null \
  || fail "the UI does not answer on 127.0.0.1:$port"
curl -fsS "http://127.0.0.1:$port/api/health" || fail "the API does not answer through the gateway"
onyx status
onyx status -o json | grep -q '"healthy": true' || fail "status is not healthy"
onyx up --no-browser | grep -q "http://localhost:$port" || fail "the re-run did not verify the stack"
# A re-run imports nothing: every image is found in the node (by CRI's config digest, or by
# containerd's target digest with Docker's containerd image store).
onyx cluster load -o json | grep -q '"outcome": "imported"' && fail "the re-run imported an image again"
onyx doctor || fail "doctor found a failing check"

log "7b. indexing: a user, a file, the workers index it, a search finds it"
onyx status -o json | grep -q '"name": "background"' || fail "status does not list the background workers"
api="http://127.0.0.1:$port/api"
jar="$work/cookies"
email="e2e-$$@example.com"
password="E2e-password-$$-long"
curl -fsS -X POST "$api/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null \
  || fail "could not create a user through the API"
curl -fsS -c "$jar" -X POST "$api/auth/login" \
  --data-urlencode "username=$email" --data-urlencode "password=$password" >/dev/null \
  || fail "could not log in"
word="onyxe2e$$zebra"
printf 'The e2e check of onyx wrote this file. Its marker word is %s.\n' "$word" >"$work/e2e.txt"
upload=$(curl -fsS -b "$jar" -F "files=@$work/e2e.txt;type=text/plain" \
  "$api/manage/admin/connector/file/upload") || fail "the upload was refused"
path=$(printf '%s' "$upload" | python3 -c 'import json,sys; print(json.load(sys.stdin)["file_paths"][0])')
connector=$(curl -fsS -b "$jar" -X POST "$api/manage/admin/connector" -H 'Content-Type: application/json' \
  -d "{\"name\":\"e2e\",\"source\":\"file\",\"input_type\":\"load_state\",\"connector_specific_config\":{\"file_locations\":[\"$path\"],\"file_names\":[\"e2e.txt\"]},\"refresh_freq\":null,\"prune_freq\":null,\"indexing_start\":null}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "could not create the file connector"
credential=$(curl -fsS -b "$jar" -X POST "$api/manage/credential" -H 'Content-Type: application/json' \
  -d '{"credential_json":{},"admin_public":true,"source":"file"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "could not create a credential"
pair=$(curl -fsS -b "$jar" -X PUT "$api/manage/connector/$connector/credential/$credential" \
  -H 'Content-Type: application/json' -d '{"name":"e2e","access_type":"public"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])') || fail "could not link them"
indexed=0
for _ in $(seq 1 60); do
  indexed=$(curl -fsS -b "$jar" "$api/manage/admin/cc-pair/$pair" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("num_docs_indexed", 0))')
  [ "$indexed" -ge 1 ] && break
  sleep 10
done
[ "$indexed" -ge 1 ] || { onyx logs background --tail 50 >&2; fail "the workers did not index the file in 10 minutes"; }
curl -fsS -b "$jar" -X POST "$api/admin/search" -H 'Content-Type: application/json' \
  -d "{\"query\":\"$word\",\"filters\":{}}" | grep -q "$word" \
  || fail "a search does not find the indexed file"
[ "$(onyx doctor | grep -cE '^ok +(background workers|celery queues)')" = 2 ] \
  || fail "doctor does not find the workers alive and consuming"

log "8. data survives down + up (PostgreSQL row, same passwords)"
# Each claim where local-path-provisioner puts it with onyx's pattern: <root>/<namespace>/<claim>.
ns=$(kubectl config view --minify --context "$ctx" -o jsonpath='{..namespace}')
ns=${ns:-default}
claims=$(kubectl --context "$ctx" -n "$ns" get pvc -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.phase}{" "}{.spec.volumeName}{"\n"}{end}')
[ -n "$claims" ] || fail "the stack has no claims"
while read -r claim phase volume; do
  [ "$phase" = Bound ] || fail "claim $claim is $phase"
  path=$(kubectl --context "$ctx" get pv "$volume" -o jsonpath='{.spec.hostPath.path}')
  [ "$path" = "/var/local-path-provisioner/$ns/$claim" ] || fail "claim $claim is at $path"
done <<<"$claims"
marker="e2e-$(date +%s)"
kubectl --context "$ctx" exec deploy/postgresql -- sh -c \
  "psql -U \"\$POSTGRES_USER\" -d postgres -c \"CREATE TABLE IF NOT EXISTS e2e(v text); INSERT INTO e2e VALUES ('$marker');\""
before=$(kubectl --context "$ctx" get secret onyx-postgresql -o jsonpath='{.data.password}')
onyx down
onyx status && fail "status is healthy with the stack down"
onyx cluster status -o json | grep -q '"state": "exited"' || fail "onyx down did not stop the node"
# Stop and start: the node starts again (systemd read from this run's log, a Ready from before
# the stop not trusted), with its images and without a second kubeadm init.
onyx up --no-browser --timeout 30m 2>&1 | tee "$ONYX_DATA_DIR/up-after-down.log"
grep -q "starting the stopped node" "$ONYX_DATA_DIR/up-after-down.log" || fail "the stopped node was not started again"
onyx cluster status -o json | grep -q '"ready": true' || fail "the node is not Ready after the start"
onyx cluster load -o json | grep -q '"outcome": "imported"' && fail "an image was imported again after stop and start"
after=$(kubectl --context "$ctx" get secret onyx-postgresql -o jsonpath='{.data.password}')
[ "$before" = "$after" ] || fail "the database password changed across down + up"
kubectl --context "$ctx" exec deploy/postgresql -- sh -c \
  "psql -U \"\$POSTGRES_USER\" -d postgres -tAc 'SELECT v FROM e2e'" | grep -qx "$marker" \
  || fail "PostgreSQL's data did not survive down + up"

log "8b. data survives cluster delete + up (PostgreSQL row, a new node on the same data volume)"
onyx cluster delete
onyx cluster list -o json | grep -q '"name": "onyx"' && fail "the node is still there after cluster delete"
onyx up --no-browser --port "$port" --timeout 30m
onyx status >/dev/null || fail "the stack is not healthy on the re-made cluster"
kubectl --context "$ctx" exec deploy/postgresql -- sh -c \
  "psql -U \"\$POSTGRES_USER\" -d postgres -tAc 'SELECT v FROM e2e'" | grep -qx "$marker" \
  || fail "PostgreSQL's data did not survive cluster delete + up"

log "9. destroy: the stack goes, the claims stay; then the cluster"
onyx destroy --yes
kubectl --context "$ctx" get pvc -o name | grep -q . || fail "destroy without --data removed the claims"
onyx destroy --data --yes
onyx cluster delete --purge
kubectl config get-contexts -o name | grep -qx "$ctx" && fail "$ctx left in the kubeconfig"
log "all real checks passed"
