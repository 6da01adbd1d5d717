#!/usr/bin/env bash
# Builds the envtest control-plane binaries (etcd and kube-apiserver) from Go
# modules, because no release bucket is reachable from our machines. The binaries
# are cached under bin/k8s/<versions>/; a second run only prints the folder.
#
#   hack/envtest-bins.sh          # prints the folder to use as KUBEBUILDER_ASSETS
#
# Progress goes to stderr; the folder alone goes to stdout.
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/bin/k8s/kube-apiserver-${K8S_VERSION}_etcd-${ETCD_VERSION}"
mkdir -p "$dest"

log() { printf '[envtest-bins] %s\n' "$*" >&2; }

build_etcd() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cat >"$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work" &&
    go mod init tweezer.local/etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2 &&
    go mod tidy >&2 &&
    CGO_ENABLED=0 go build -trimpath -o "$dest/etcd.tmp" . &&
    mv "$dest/etcd.tmp" "$dest/etcd")
}

build_kube_apiserver() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # k8s.io/kubernetes points its staging modules at ./staging; replace each one
  # with the published module of the matching minor version.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  (cd "$work" &&
    go mod init tweezer.local/kube-apiserver >/dev/null 2>&1 &&
    for m in $staging; do go mod edit -replace "$m=$m@${STAGING_VERSION}"; done &&
    go get "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" >&2 &&
    CGO_ENABLED=0 go build -mod=mod -trimpath -o "$dest/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver &&
    mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver")
}

if [ ! -x "$dest/etcd" ]; then
  start=$SECONDS
  log "building etcd ${ETCD_VERSION} from go.etcd.io/etcd/server/v3 (about 2 minutes the first time)"
  build_etcd
  log "etcd built in $((SECONDS - start)) s"
fi
if [ ! -x "$dest/kube-apiserver" ]; then
  start=$SECONDS
  log "building kube-apiserver ${K8S_VERSION} from k8s.io/kubernetes (about 12 minutes cold on 2 cores)"
  build_kube_apiserver
  log "kube-apiserver built in $((SECONDS - start)) s"
fi
echo "$dest"
