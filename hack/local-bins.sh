#!/usr/bin/env bash
# Builds, from Go modules, what local mode (`make run`) adds to the envtest
# control plane of hack/envtest-bins.sh: kubectl, and kube-controller-manager
# for the garbage collector and the namespace controller. No release bucket
# is reachable from our machines, so both come from the published modules,
# cached under bin/k8s/<name>-<version>/; a second run builds nothing.
# bin/kubectl links to the cached kubectl.
#
#   hack/local-bins.sh          # prints the kube-controller-manager folder
#
# Tests do not need these: they run against the envtest control plane alone.
# Progress goes to stderr; the folder alone goes to stdout.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}

root=$(cd "$(dirname "$0")/.." && pwd)
kcm_dir="$root/bin/k8s/kube-controller-manager-${K8S_VERSION}"
kubectl_dir="$root/bin/k8s/kubectl-${K8S_VERSION}"
mkdir -p "$kcm_dir" "$kubectl_dir"

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

# As kube-apiserver in hack/envtest-bins.sh: k8s.io/kubernetes with each
# staging module replaced by the published one of the matching minor version.
build_kube_controller_manager() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  (cd "$work" &&
    go mod init tweezer.local/kube-controller-manager >/dev/null 2>&1 &&
    for m in $staging; do go mod edit -replace "$m=$m@${STAGING_VERSION}"; done &&
    go get "k8s.io/kubernetes/cmd/kube-controller-manager@${K8S_VERSION}" >&2 &&
    CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$kcm_dir/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager &&
    mv "$kcm_dir/kube-controller-manager.tmp" "$kcm_dir/kube-controller-manager")
}

if [ ! -x "$kubectl_dir/kubectl" ]; then
  start=$SECONDS
  log "building kubectl ${STAGING_VERSION} from k8s.io/kubectl (a few minutes the first time)"
  build_kubectl
  log "kubectl built in $((SECONDS - start)) s"
fi
ln -sfn "k8s/kubectl-${K8S_VERSION}/kubectl" "$root/bin/kubectl"
if [ ! -x "$kcm_dir/kube-controller-manager" ]; then
  start=$SECONDS
  log "building kube-controller-manager ${K8S_VERSION} from k8s.io/kubernetes (about 10 minutes cold on 2 cores)"
  build_kube_controller_manager
  log "kube-controller-manager built in $((SECONDS - start)) s"
fi
echo "$kcm_dir"
