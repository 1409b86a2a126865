#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, with .gpu/ from scripts/gpu-bundle.sh carried
# along: unpacks Node and the Vulkan loader, points Vulkan at NVIDIA's driver, prints the adapter
# and runs the benchmarks given as arguments, writing JSON reports to $OUT (or ./gpu-results).
# Default: `bench all --node --large`, ONE report ($OUT/bench-all.json, .md, .html beside it) with
# every suite and the autotuner's table (its `tuning` section); the tuning cache lands in $OUT/cache.
# Example: scripts/gpu-run.sh "bench gemm --large" "bench conv"
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out" /tmp/bnn-gpu
xz -dc .gpu/node.xz > /tmp/bnn-gpu/node && chmod +x /tmp/bnn-gpu/node
for deb in .gpu/*.deb; do dpkg -x "$deb" /tmp/bnn-gpu/root; done
export LD_LIBRARY_PATH=/tmp/bnn-gpu/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$nvidia_icd" ] && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$nvidia_icd}
export XDG_RUNTIME_DIR=/tmp
export BNN_CACHE_DIR=${BNN_CACHE_DIR:-$out/cache}
node=/tmp/bnn-gpu/node
bnn=.gpu/app/dist/src/cli/bnn.js
echo "node $($node --version)"
$node $bnn info | tee "$out/info.txt"
[ $# -gt 0 ] || set -- "bench all --node --large"
status=0
for cmd in "$@"; do
  name=$(echo "$cmd" | awk '{print $1 "-" $2}')
  echo "== bnn $cmd"
  # shellcheck disable=SC2086
  $node $bnn $cmd --out "$out/$name.json" | tee "$out/$name.md" || status=1
done
exit $status
