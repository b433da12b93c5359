#!/usr/bin/env bash
# Builds the native pieces into build/native/:
#   accel_nvml.node     the NVML addon (optional: the agent runs without it)
#   libnvidia-ml.so.1   the NVML stub used by simulated hosts
#   nvidia-smi          a fake nvidia-smi that reads the stub through NVML
#   fake-libs/<soname>  small genuine shared objects standing in for other driver libraries
#   ldso-probe          loads libraries by soname, to prove injection inside containers
# Safe to run repeatedly; each artifact is written beside its final name and renamed into place.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/native-bindings"
out="$root/build/native"
cc="${CC:-gcc}"
cflags=(-std=gnu11 -O2 -Wall -Wextra)
mkdir -p "$out/fake-libs"

# Compiles to a temporary name, then renames, so a reader never sees half a file.
compile() {
  local target="$1"
  shift
  local tmp
  tmp="$(dirname "$target")/.$(basename "$target").tmp.$$"
  "$cc" "${cflags[@]}" -o "$tmp" "$@"
  mv -f "$tmp" "$target"
}

echo "build-native: NVML stub"
compile "$out/libnvidia-ml.so.1" -shared -fPIC -fvisibility=hidden -Wl,-soname,libnvidia-ml.so.1 \
  "$src"/nvml-stub/*.c "$src/common/stub_conf_locate.c" -lpthread -ldl

echo "build-native: fake nvidia-smi"
# The rpath lets a copy at <root>/usr/bin/nvidia-smi find <root>/usr/lib/.../libnvidia-ml.so.1.
compile "$out/nvidia-smi" "$src/nvidia-smi-fake/nvidia_smi.c" "$src/common/stub_conf_locate.c" -ldl \
  '-Wl,-rpath,$ORIGIN/../lib/x86_64-linux-gnu:$ORIGIN/../lib64:$ORIGIN/../lib'

echo "build-native: fake driver libraries"
fake_libs=(
  "libcuda.so.1:-DFAKE_CUDA"
  "libnvidia-ptxjitcompiler.so.1:"
  "libnvidia-allocator.so.1:"
  "libnvidia-cfg.so.1:"
  "libnvidia-opencl.so.1:"
  "libnvidia-nvvm.so.4:"
  "libhgrt.so.1:-DFAKE_HGRT"
)
for entry in "${fake_libs[@]}"; do
  soname="${entry%%:*}"
  extra="${entry#*:}"
  # shellcheck disable=SC2086 # $extra is zero or one flag
  compile "$out/fake-libs/$soname" -shared -fPIC -fvisibility=hidden "-Wl,-soname,$soname" \
    "-DFAKE_SONAME=\"$soname\"" $extra "$src/fake-driver-lib/fake_driver_lib.c" "$src/common/stub_conf_locate.c" -ldl
done

echo "build-native: ldso-probe"
compile "$out/ldso-probe" "$src/ldso-probe/ldso_probe.c" -ldl

echo "build-native: accel-runtime launcher"
# The launcher hands unusual cases to the Node wrapper; by default the one in this checkout.
ACCEL_RUNTIME_DEFAULT_WRAPPER="${ACCEL_RUNTIME_DEFAULT_WRAPPER:-$root/bin/accel-runtime.js}" \
  bash "$src/accel-runtime-launcher/build.sh" "$out"

echo "build-native: NVML addon"
node_bin="$(command -v node || true)"
node_gyp="$root/node_modules/.bin/node-gyp"
addon_built=0
if [[ -z "$node_bin" ]]; then
  echo "build-native: WARNING: node not found; skipping the NVML addon" >&2
elif [[ ! -x "$node_gyp" ]]; then
  echo "build-native: WARNING: $node_gyp missing (run npm install); skipping the NVML addon" >&2
else
  # --nodedir points at this Node's own headers, so node-gyp never downloads any.
  node_dir="$("$node_bin" -p 'require("path").dirname(require("path").dirname(process.execPath))')"
  if (cd "$src/nvml" && "$node_gyp" rebuild --nodedir="$node_dir" --loglevel=warn); then
    cp -f "$src/nvml/build/Release/accel_nvml.node" "$out/.accel_nvml.node.tmp.$$"
    mv -f "$out/.accel_nvml.node.tmp.$$" "$out/accel_nvml.node"
    addon_built=1
  else
    echo "build-native: WARNING: the NVML addon did not build; the agent will run without in-process NVML" >&2
  fi
fi
if [[ $addon_built == 0 ]]; then
  # A leftover addon from an earlier build would no longer match these sources.
  rm -f "$out/accel_nvml.node"
fi

echo "build-native: done; NVML addon $([[ $addon_built == 1 ]] && echo built || echo "NOT built")"
