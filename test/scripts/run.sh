#!/usr/bin/env bash
# `make run`: lballoc-operator against the cluster of the current kubeconfig ($KUBECONFIG or
# ~/.kube/config), in the foreground; Ctrl-C stops it (and releases the Lease).
#
# The CRD must be installed (kubectl apply -k crds) and your user needs the operator's RBAC.
# POD_NAME defaults to "<host>-<user>" so that it does not collide with in-cluster replicas;
# POD_NAMESPACE defaults to the current context's namespace, else "default". Extra flags go
# through ARGS, e.g. make run ARGS="--leader-elect=false --v=1".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
OPERATOR="$BUILD/operator/lballoc-operator"
[[ -x "$OPERATOR" ]] || { echo "run: $OPERATOR is missing (make build)" >&2; exit 1; }

if [[ -z "${POD_NAMESPACE:-}" ]] && command -v kubectl >/dev/null; then
  POD_NAMESPACE=$(kubectl config view --minify -o 'jsonpath={..namespace}' 2>/dev/null || true)
fi
export POD_NAMESPACE=${POD_NAMESPACE:-default}
export POD_NAME=${POD_NAME:-$(hostname)-${USER:-$(id -un)}}
echo "run: POD_NAME=$POD_NAME POD_NAMESPACE=$POD_NAMESPACE" >&2
# shellcheck disable=SC2086 # ARGS is a list of flags
exec "$OPERATOR" ${ARGS:-} "$@"
