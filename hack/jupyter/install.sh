#!/usr/bin/env bash
# Installs the Jupyter that local-mode notebooks run: Debian's classic notebook
# server (jupyter-notebook, notebook 6.x) and a python3 kernel
# (python3-ipykernel), unless a `jupyter notebook` is already on PATH.
# Needs root and Debian's archive (CI and our machines have both). Prints the
# path of the jupyter command on success; on failure says why and which command
# installs it, and exits non-zero.
set -euo pipefail

packages=(jupyter-notebook python3-ipykernel)

# have prints the first jupyter (in PATH, else Debian's /usr/bin/jupyter,
# which a Python version manager's shims may hide) that runs a notebook server.
have() {
  local j
  for j in "$(command -v jupyter 2>/dev/null)" /usr/bin/jupyter; do
    if [ -n "$j" ] && [ -x "$j" ] && "$j" notebook --version >/dev/null 2>&1; then
      echo "$j"
      return 0
    fi
  done
  return 1
}

if have; then exit 0; fi

fail() {
  echo "hack/jupyter/install.sh: $*" >&2
  echo "install it with: apt-get update && apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "no apt-get on this machine (not Debian-based)"
[ "$(id -u)" = 0 ] || fail "installing Debian packages needs root (this is uid $(id -u))"

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! apt-get install -y --no-install-recommends "${packages[@]}" >"$log" 2>&1; then
  # The package lists may be missing or stale: refresh them once and retry.
  apt-get update >>"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "apt-get update failed"; }
  apt-get install -y --no-install-recommends "${packages[@]}" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "apt-get install failed"; }
fi
have || fail "installed ${packages[*]} but 'jupyter notebook --version' still fails"
