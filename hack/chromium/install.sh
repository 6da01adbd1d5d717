#!/usr/bin/env bash
# Installs the headless Chromium that the console's browser tests drive
# (apiserver/console): Debian's chromium-headless-shell, else its full
# chromium, unless one is already on PATH. Needs root and Debian's archive
# (CI and our machines have both). Prints the path of the browser on success;
# on failure says why and which command installs it, and exits non-zero.
set -euo pipefail

# have prints the first browser that answers --version.
have() {
  local b
  for b in "${CHROME:-}" \
    "$(command -v chromium-headless-shell 2>/dev/null)" /usr/lib/chromium/chromium-headless-shell \
    "$(command -v chromium 2>/dev/null)" /usr/bin/chromium \
    "$(command -v google-chrome 2>/dev/null)"; do
    if [ -n "$b" ] && [ -x "$b" ] && "$b" --version >/dev/null 2>&1; then
      echo "$b"
      return 0
    fi
  done
  return 1
}

if have; then exit 0; fi

fail() {
  echo "hack/chromium/install.sh: $*" >&2
  echo "install it with: apt-get update && apt-get install -y --no-install-recommends chromium-headless-shell" >&2
  echo "(or set CHROME to the path of a Chromium or Chrome binary)" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "no apt-get on this machine (not Debian-based)"
[ "$(id -u)" = 0 ] || fail "installing Debian packages needs root (this is uid $(id -u))"

export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a parallel test suite's install) may hold dpkg's lock: wait for it.
apt=(apt-get -o DPkg::Lock::Timeout=600)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# install tries the headless shell (smaller: no X11 or GTK), then the full browser.
install() {
  "${apt[@]}" install -y --no-install-recommends chromium-headless-shell >>"$log" 2>&1 ||
    "${apt[@]}" install -y --no-install-recommends chromium >>"$log" 2>&1
}
if ! install; then
  # The package lists may be missing or stale: refresh them once and retry.
  "${apt[@]}" update >>"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "apt-get update failed"; }
  install || { tail -n 20 "$log" >&2; fail "apt-get install failed"; }
fi
have || fail "installed Debian's Chromium but no browser answers --version"
