#!/usr/bin/env bash
# Builds the native accel-runtime launcher into build/native/accel-runtime.
# Defaults baked in (override at build time):
#   ACCEL_RUNTIME_DEFAULT_WRAPPER  the Node wrapper it hands unusual cases to
#   ACCEL_RUNTIME_DEFAULT_CACHE    the cache directory the wrapper keeps
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/build/native}"
mkdir -p "$out"
defines=()
[ -n "${ACCEL_RUNTIME_DEFAULT_WRAPPER:-}" ] && defines+=("-DACCEL_RUNTIME_DEFAULT_WRAPPER=\"$ACCEL_RUNTIME_DEFAULT_WRAPPER\"")
[ -n "${ACCEL_RUNTIME_DEFAULT_CACHE:-}" ] && defines+=("-DACCEL_RUNTIME_DEFAULT_CACHE=\"$ACCEL_RUNTIME_DEFAULT_CACHE\"")
tmp="$out/.accel-runtime.tmp.$$"
"${CC:-gcc}" -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
  -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -pie -Wl,-z,relro,-z,now \
  "${defines[@]}" -o "$tmp" "$here"/args.c "$here"/json.c "$here"/cache.c "$here"/inject.c "$here"/launcher.c
mv -f "$tmp" "$out/accel-runtime"
