#!/bin/bash
# Stages bench/cpu/threads-job.sh as a self-contained folder (default .devjob-threads/; carry <= 50 MiB):
#   bash bench/cpu/stage-threads-job.sh [FOLDER]
# then on the other machine: cd FOLDER && OUT=... bash run.sh. Builds first (npm run build).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${1:-$ROOT/.devjob-threads}
cd "$ROOT"
npm run build > /dev/null
for b in attention:cpu-attention threads-warmup:threads-warmup; do
  npx esbuild "bench/cpu/${b%%:*}.ts" --bundle --platform=node --format=esm --external:onnxruntime-node \
    --outfile="build/bench/${b##*:}.js" --log-level=warning
done
mkdir -p "$DEST"
printf '*\n' > "$DEST/.gitignore"
[ -s "$DEST/node.xz" ] || xz -9 -c "$(readlink -f "$(command -v node)")" > "$DEST/node.xz"
ORT=node_modules/onnxruntime-node
tar -cJf "$DEST/payload.tar.xz" build/kvpack.wasm build/bench/cpu-attention.js build/bench/threads-warmup.js dist/index.js \
  "$ORT/package.json" "$ORT/dist" "$ORT/bin/napi-v6/linux/x64" node_modules/onnxruntime-common
cp bench/cpu/threads-job.sh "$DEST/run.sh"
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- ts assembly bench || echo "+uncommitted")" > "$DEST/COMMIT"
du -sh "$DEST"/*
