#!/usr/bin/env bash
# Packs what a bare x86-64 Linux machine with a GPU (and no Node, no registry) needs to run the
# benchmarks: this Node binary (xz), the built library (dist/), its runtime packages (webgpu's
# dawn.node, wgsl_reflect) and Debian's Vulkan loader. Output: .gpu/ (ignored by git), well under
# 64 MiB. Run it after `npm run build`; then scripts/gpu-run.sh there. See docs/gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/cli/bnn.js ] || { echo "gpu-bundle: run npm run build first" >&2; exit 1; }
rm -rf .gpu && mkdir -p .gpu/app/node_modules
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > .gpu/node.xz
cp -r dist package.json .gpu/app/
mkdir -p .gpu/app/node_modules/webgpu/dist
cp node_modules/webgpu/package.json node_modules/webgpu/index.js .gpu/app/node_modules/webgpu/
cp -r node_modules/webgpu/dist/linux-x64 .gpu/app/node_modules/webgpu/dist/
for dep in wgsl_reflect debug ms; do
  [ -d "node_modules/$dep" ] && cp -r "node_modules/$dep" .gpu/app/node_modules/
done
# Debian's Vulkan loader (the GPU machine's image may lack it); unpacked there with dpkg -x.
lists=$(mktemp -d)
apt_opts=(-o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Dir::State::Lists="$lists")
mkdir -p "$lists/partial"
apt-get "${apt_opts[@]}" update -qq
(cd .gpu && apt-get "${apt_opts[@]}" download -qq libvulkan1)
rm -rf "$lists"
du -sh .gpu
