#!/bin/sh
# Regenerates the TypeScript for the local gRPC API (agent/api/gen) and the
# kubelet device-plugin and pod-resources APIs (agent/kubelet/gen) from their
# proto/ directories with buf and ts-proto: no protoc and no remote plugins. The output is
# committed, so builds and tests never need this step; run it after editing a
# .proto and commit the result. buf is not a dependency of the package (its
# lock entries would name platform binaries for every OS), so install it for
# the occasion: npm install --no-save @bufbuild/buf
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
buf="$repo/node_modules/.bin/buf"
plugin="$repo/node_modules/.bin/protoc-gen-ts_proto"

for tool in "$buf" "$plugin"; do
  if [ ! -x "$tool" ]; then
    echo "gen-proto: $tool is missing; run npm ci, then npm install --no-save @bufbuild/buf" >&2
    exit 1
  fi
done

for module in agent/api agent/kubelet; do
  cd "$repo/$module"
  "$buf" lint
  "$buf" generate
  echo "gen-proto: regenerated $module/gen"
done
