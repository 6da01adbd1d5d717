#!/usr/bin/env bash
# Builds and installs what a real node needs (make run NODE=1 and the node e2e
# test in internal/node/e2e): kubelet and kube-scheduler from k8s.io/kubernetes
# (and, with CRICTL=1, crictl from sigs.k8s.io/cri-tools, for debugging a
# node by hand), cached under bin/k8s/node-<version>/ beside the control plane
# (a second run builds nothing), and Debian's containerd, runc and
# containernetworking-plugins (apt-get, as root).
#
#   hack/node-bins.sh              # prints the folder holding kubelet and kube-scheduler
#   CRICTL=1 hack/node-bins.sh     # crictl too (the node itself does not need it)
#   PACKAGES=0 hack/node-bins.sh   # binaries only, no apt-get
#
# Cold, on a shared 2-core machine: kubelet 14.5 min, kube-scheduler 12 min.
#
# Progress goes to stderr; the folder alone goes to stdout. It fails with the
# reason when it cannot install a package (not root, no apt-get, no network).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}
CRICTL_VERSION=${CRICTL_VERSION:-v1.34.0}

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/bin/k8s/node-${K8S_VERSION}"
mkdir -p "$dest"

# shellcheck source=hack/k8s-build.sh
source "$root/hack/k8s-build.sh"

log() { printf '[node-bins] %s\n' "$*" >&2; }

# The Debian packages that provide containerd, runc and the CNI plugins, and
# the file each must leave behind.
declare -A want=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
)
install_packages() {
  local missing=()
  for p in "${!want[@]}"; do
    [ -e "${want[$p]}" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "cannot install ${missing[*]}: no apt-get on this machine; install containerd, runc and the CNI plugins (bridge, host-local, loopback) yourself"
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    log "cannot install ${missing[*]}: not root; run: sudo apt-get install -y ${missing[*]}"
    return 1
  fi
  log "installing ${missing[*]} with apt-get"
  start=$SECONDS
  if ! { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }; then
    log "cannot install ${missing[*]}: apt-get failed (see above)"
    return 1
  fi
  log "packages installed in $((SECONDS - start)) s"
  # Debian starts the service when systemd runs; we run our own containerd.
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"

build_crictl() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (cd "$work" &&
    GOBIN="$work" CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}" >&2 &&
    mv "$work/crictl" "$dest/crictl")
}

if [ "${PACKAGES:-1}" != 0 ]; then
  install_packages
fi
for name in kubelet kube-scheduler; do
  if [ ! -x "$dest/$name" ]; then
    start=$SECONDS
    log "building $name ${K8S_VERSION} from k8s.io/kubernetes (about 12-15 minutes cold on 2 cores)"
    build_k8s_command "$name" "$dest" "$ldflags"
    log "$name built in $((SECONDS - start)) s"
  fi
done
if [ "${CRICTL:-0}" = 1 ] && [ ! -x "$dest/crictl" ]; then
  start=$SECONDS
  log "building crictl ${CRICTL_VERSION} from sigs.k8s.io/cri-tools (a minute or two)"
  if build_crictl; then
    log "crictl built in $((SECONDS - start)) s"
  else
    log "crictl could not be built (optional: only for debugging a node by hand); going on"
  fi
fi
echo "$dest"
