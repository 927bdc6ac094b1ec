#!/usr/bin/env bash
# `make demo`: lballoc end to end on this machine, no cluster needed.
#
# Starts the in-tree API server (lballoc-apiserver), installs the CRD and config/samples with
# kubectl, runs two lballoc-operator replicas with leader election, waits until the sample
# Services have their addresses, shows them (kubectl get lbpool / get svc / describe svc), and
# stops everything with SIGTERM, checking that each replica exits 0.
#
# BUILD (default: build) is the CMake build tree holding the two binaries. KEEP=1 leaves the
# working directory (kubeconfig, logs) in place.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
APISERVER="$BUILD/test/apiserver/lballoc-apiserver"
OPERATOR="$BUILD/operator/lballoc-operator"
KUBECTL=${KUBECTL:-kubectl}
NS=lballoc-demo
TIMEOUT=${TIMEOUT:-60}

for bin in "$APISERVER" "$OPERATOR"; do
  [[ -x "$bin" ]] || { echo "demo: $bin is missing (make build)" >&2; exit 1; }
done
command -v "$KUBECTL" >/dev/null || { echo "demo: kubectl not found" >&2; exit 1; }

WORK=$(mktemp -d /tmp/lballoc-demo.XXXXXX)
KUBECONFIG_FILE="$WORK/kubeconfig"
PIDS=()

if [[ -t 1 ]]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
k() { "$KUBECTL" --kubeconfig="$KUBECONFIG_FILE" --cache-dir="$WORK/kubectl-cache" "$@"; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "${KEEP:-}" ]]; then echo "demo: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Polls "$@" (a command) every 0.2 s until it succeeds or TIMEOUT seconds pass.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then echo "demo: timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

say "API server"
"$APISERVER" --port=0 --kubeconfig-out="$KUBECONFIG_FILE" >"$WORK/apiserver.out" 2>"$WORK/apiserver.log" &
PIDS+=($!)
wait_for "the API server" grep -q '^listening on' "$WORK/apiserver.out"
head -1 "$WORK/apiserver.out"

say "CRD and samples (kubectl apply -k crds; kubectl apply -k config/samples)"
k apply -k "$ROOT/crds"
wait_for "the LoadBalancerPool CRD" k get lbpool
k apply -k "$ROOT/config/samples"

say "Two operator replicas (leader election on the Lease default/lballoc)"
for i in 0 1; do
  POD_NAME="lballoc-demo-$i" POD_NAMESPACE=default "$OPERATOR" --kubeconfig="$KUBECONFIG_FILE" \
    --health-probe-bind-address=127.0.0.1:0 --metrics-bind-address=127.0.0.1:0 \
    >"$WORK/operator-$i.log" 2>&1 &
  PIDS+=($!)
  OPERATOR_PIDS[$i]=$!
done
holder() { k get lease -n default lballoc -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null; }
has_leader() { [[ -n "$(holder)" ]]; }
wait_for "a leader" has_leader
echo "leader: $(holder)"

# Every Service lballoc handles (all but the one of another class) has an address.
all_allocated() {
  local missing
  missing=$(k get svc -n "$NS" -o 'jsonpath={range .items[*]}{.metadata.name}{"="}{.status.loadBalancer.ingress[0].ip}{"\n"}{end}' |
    grep -v '^elsewhere=' | grep -c '=$' || true)
  [[ "$missing" == 0 ]]
}
# Pool statuses are written coalesced, a moment after the Services': wait until the pools
# count every distinct address handed out.
pools_counted() {
  local addresses counted
  addresses=$(k get svc -n "$NS" -o 'jsonpath={range .items[*]}{range .status.loadBalancer.ingress[*]}{.ip}{"\n"}{end}{end}' |
    sort -u | grep -c . || true)
  counted=$(k get lbpool -o 'jsonpath={range .items[*]}{.status.allocated}{"\n"}{end}' |
    awk '{n += $1} END {print n + 0}')
  [[ "$addresses" == "$counted" ]]
}
say "Waiting for the Services' addresses"
wait_for "the Services' addresses" all_allocated
wait_for "the pools' status" pools_counted

say "kubectl get lbpool"
k get lbpool
say "kubectl get svc -n $NS"
k get svc -n "$NS"
say "kubectl describe svc -n $NS api"
k describe svc -n "$NS" api

say "Stopping (SIGTERM): the leader releases the Lease"
status=0
for i in 0 1; do
  pid=${OPERATOR_PIDS[$i]}
  kill -TERM "$pid"
  if wait "$pid"; then
    echo "lballoc-demo-$i exited 0"
  else
    rc=$?
    echo "lballoc-demo-$i exited $rc (log: $WORK/operator-$i.log)" >&2
    status=1
    KEEP=1
  fi
done
echo "lease holder after shutdown: \"$(holder)\""
exit $status
