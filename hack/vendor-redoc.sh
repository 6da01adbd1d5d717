#!/usr/bin/env bash
# Vendors the standalone bundle of Redoc (the renderer of /docs) with its
# licences into apiserver/server/docs, from the npm registry. The facade
# embeds it so that /docs works offline. Redoc 2.x: one 0.9 MB file with no
# requests of its own (v3's bundle is 2.3 MB); the reference document of
# the cloud API is itself a Redoc page.
set -euo pipefail
version="${1:-2.5.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "redoc@$version" >/dev/null && tar xzf "redoc-$version.tgz")
dest="$root/apiserver/server/docs"
cp "$tmp/package/bundles/redoc.standalone.js" "$dest/redoc.standalone.js"
cp "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" "$dest/redoc.standalone.js.LICENSE.txt"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "redoc $version: $(wc -c <"$dest/redoc.standalone.js") bytes"
