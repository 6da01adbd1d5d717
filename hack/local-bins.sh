#!/usr/bin/env bash
# Builds, from Go modules, what local mode (`make run`) adds to the envtest
# control plane of hack/envtest-bins.sh: kubectl, and kube-controller-manager
# for the garbage collector and the namespace controller. No release bucket
# is reachable from our machines, so both come from the published modules,
# cached under bin/k8s/<name>-<version>/; a second run builds nothing.
# bin/kubectl links to the cached kubectl.
#
#   hack/local-bins.sh          # prints the kube-controller-manager folder
#   KUBECTL=0 hack/local-bins.sh  # kube-controller-manager only (make test)
#
# `make test` builds kube-controller-manager too: the local e2e suite checks
# that deleting a batch garbage-collects its jobs and results.
# Progress goes to stderr; the folder alone goes to stdout.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}

root=$(cd "$(dirname "$0")/.." && pwd)
kcm_dir="$root/bin/k8s/kube-controller-manager-${K8S_VERSION}"
kubectl_dir="$root/bin/k8s/kubectl-${K8S_VERSION}"
mkdir -p "$kcm_dir"

# shellcheck source=hack/k8s-build.sh
source "$root/hack/k8s-build.sh"

log() { printf '[local-bins] %s\n' "$*" >&2; }

# The version the binaries report (kubectl version, /version), as a release sets it.
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"

# kubectl's own main is a few lines over k8s.io/kubectl; build the same
# program from the published staging modules, without k8s.io/kubernetes.
build_kubectl() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cat >"$work/main.go" <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
  (cd "$work" &&
    go mod init tweezer.local/kubectl >/dev/null 2>&1 &&
    go get "k8s.io/kubectl@${STAGING_VERSION}" "k8s.io/component-base@${STAGING_VERSION}" >&2 &&
    go mod tidy >&2 &&
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$kubectl_dir/kubectl.tmp" . &&
    mv "$kubectl_dir/kubectl.tmp" "$kubectl_dir/kubectl")
}


if [ "${KUBECTL:-1}" != 0 ]; then
  mkdir -p "$kubectl_dir"
  if [ ! -x "$kubectl_dir/kubectl" ]; then
    start=$SECONDS
    log "building kubectl ${STAGING_VERSION} from k8s.io/kubectl (a few minutes the first time)"
    build_kubectl
    log "kubectl built in $((SECONDS - start)) s"
  fi
  ln -sfn "k8s/kubectl-${K8S_VERSION}/kubectl" "$root/bin/kubectl"
fi
if [ ! -x "$kcm_dir/kube-controller-manager" ]; then
  start=$SECONDS
  log "building kube-controller-manager ${K8S_VERSION} from k8s.io/kubernetes (about 10 minutes cold on 2 cores)"
  build_k8s_command kube-controller-manager "$kcm_dir" "$ldflags"
  log "kube-controller-manager built in $((SECONDS - start)) s"
fi
echo "$kcm_dir"
