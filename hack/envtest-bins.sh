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

# shellcheck source=hack/k8s-build.sh
source "$root/hack/k8s-build.sh"

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


if [ ! -x "$dest/etcd" ]; then
  start=$SECONDS
  log "building etcd ${ETCD_VERSION} from go.etcd.io/etcd/server/v3 (about 2 minutes the first time)"
  build_etcd
  log "etcd built in $((SECONDS - start)) s"
fi
if [ ! -x "$dest/kube-apiserver" ]; then
  start=$SECONDS
  log "building kube-apiserver ${K8S_VERSION} from k8s.io/kubernetes (about 12 minutes cold on 2 cores)"
  build_k8s_command kube-apiserver "$dest"
  log "kube-apiserver built in $((SECONDS - start)) s"
fi
echo "$dest"
