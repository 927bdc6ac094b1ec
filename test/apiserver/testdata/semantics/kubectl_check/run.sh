#!/bin/bash
# Manual end-to-end check that kubectl (v1.32) accepts the OpenAPI v3 documents of
# test/apiserver/openapi.h, against fake_server.py (no real API server needed):
#   - apply/create validate server-side: every POST/PATCH carries fieldValidation=Strict and
#     kubectl never falls back to client-side validation (which would need /openapi/v2);
#   - re-applying a Service with one port removed sends the strategic merge patch
#     {"$setElementOrder/ports":[{"port":81}],"ports":[{"$patch":"delete","port":80}]};
#   - re-applying a custom resource sends a JSON merge patch.
# Needs g++, python3 and kubectl. Usage: run.sh [KUBECTL]. Exit status 0 when all checks pass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../../.." && pwd)
kubectl=${1:-/usr/bin/kubectl}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

g++ -std=c++20 -O1 -I"$repo" "$here/openapi_dump.cc" "$repo/test/apiserver/openapi.cc" \
  "$repo/operator/base/status.cc" -o "$work/openapi_dump"
mkdir "$work/oa" "$work/home"
"$work/openapi_dump" "$here/../widget-crd.json" "$work/oa"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$here/fake_server.py" "$port" "$work/oa" "$work/log" &
pid=$!
for _ in $(seq 100); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cat > "$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:$port"}}]
contexts: [{name: fake, context: {cluster: fake, user: u, namespace: default}}]
current-context: fake
users: [{name: u, user: {token: x}}]
KC
export KUBECONFIG="$work/kubeconfig" HOME="$work/home"

apply() { printf '%s\n' "$1" > "$work/obj.yaml"; "$kubectl" apply -f "$work/obj.yaml"; }
apply '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"type":"LoadBalancer","ports":[{"port":80,"targetPort":8080},{"port":81}]}}'
apply '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"type":"LoadBalancer","ports":[{"port":81}]}}'
apply '{"apiVersion":"example.com/v1alpha1","kind":"Widget","metadata":{"name":"w"},"spec":{"color":"red","size":2}}'
apply '{"apiVersion":"example.com/v1alpha1","kind":"Widget","metadata":{"name":"w"},"spec":{"color":"blue"}}'
apply '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"holderIdentity":"a"}}'

python3 - "$work/log" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
writes = [r for r in reqs if r["method"] in ("POST", "PATCH")]
failures = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: failures.append(what)
check(len(writes) == 5, "5 writes (3 creates, 2 patches), got %d" % len(writes))
check(all("fieldValidation=Strict" in r["path"] for r in writes), "every write asks for server-side Strict validation")
svc = [r for r in writes if r["method"] == "PATCH" and "/services/web" in r["path"]]
check(len(svc) == 1 and svc[0]["ctype"] == "application/strategic-merge-patch+json", "Service re-apply is a strategic merge patch")
if svc:
    spec = json.loads(svc[0]["body"])["spec"]
    check(spec == {"$setElementOrder/ports": [{"port": 81}], "ports": [{"$patch": "delete", "port": 80}]},
          "Service patch spec is the setElementOrder/delete form: %s" % json.dumps(spec))
cr = [r for r in writes if r["method"] == "PATCH" and "/widgets/w" in r["path"]]
check(len(cr) == 1 and cr[0]["ctype"] == "application/merge-patch+json", "custom resource re-apply is a JSON merge patch")
if cr:
    check(json.loads(cr[0]["body"])["spec"] == {"color": "blue", "size": None}, "merge patch deletes with null")
sys.exit(1 if failures else 0)
PY
