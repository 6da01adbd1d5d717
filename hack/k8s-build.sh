# Sourced by hack/envtest-bins.sh and hack/local-bins.sh: builds one command of
# k8s.io/kubernetes from the Go module proxy, no release bucket needed.
#
#   build_k8s_command NAME DEST_DIR [LDFLAGS]
#
# k8s.io/kubernetes points its staging modules at ./staging; a throwaway
# module replaces each one with the published module of the matching minor
# version (STAGING_VERSION), then builds k8s.io/kubernetes/cmd/NAME at
# K8S_VERSION into DEST_DIR/NAME.
build_k8s_command() {
  local name=$1 dest=$2 ldflags=${3:-}
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  (cd "$work" &&
    go mod init "tweezer.local/$name" >/dev/null 2>&1 &&
    for m in $staging; do go mod edit -replace "$m=$m@${STAGING_VERSION}"; done &&
    go get "k8s.io/kubernetes/cmd/$name@${K8S_VERSION}" >&2 &&
    CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$dest/$name.tmp" "k8s.io/kubernetes/cmd/$name" &&
    mv "$dest/$name.tmp" "$dest/$name")
}
