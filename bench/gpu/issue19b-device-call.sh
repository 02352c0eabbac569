#!/bin/bash
# Issue 19's integer-key attention call on the GPU machine (docs/decisions.md#D153-D155): the
# streaming read, the float kernels ('base') and the integer-key kernels (kivi/fold-int.wgsl,
# 'int' = two int8 limbs, the default of integerAttention; 'int-xKINT_LIMBS=1u' = one limb) for
# kivi2/kivi4, MHA 32x32x128 and GQA 32x8x128, 4K (float64 check) / 32K / 128K, batch 1 and 8, in
# one process; then PyTorch SDPA fp16 of the same shapes. Staged into the main checkout's
# git-excluded .devjob19b/ (build/bench/gpu-attention.js from
#   npx esbuild bench/gpu/attention.ts --bundle --platform=node --format=esm --external:webgpu --outfile=build/bench/gpu-attention.js
# + bench/gpu/{random-rows.wgsl,stream-read.wgsl,torch_sdpa.py} + this script as run.sh's body)
# run (carry .devbundle and .devjob19b): source .devbundle/setup.sh; bash .devjob19b/run.sh
set -u
cd "$(dirname "$0")"
log="$OUT/run.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$log"
t0=$(date +%s)
step() { echo "=== $* (t=$(( $(date +%s) - t0 )) s)" | tee -a "$log"; }
V=base:auto,int:auto,int-xKINT_LIMBS=1u:auto
S=""
for c in kivi2 kivi4; do for sh in 32x8x128 32x32x128; do S="$S;$c/$sh/1/131072/$V"; done; done
step attention
timeout 165 node build/bench/gpu-attention.js --contexts 4096,32768,131072 --batches 1,8 \
  --codecs kivi2,kivi4 --shapes 32x8x128,32x32x128 --variants "$V" --layers 0 --mem-gib 40 \
  --sweep "${S#;}" --repeat 2 --json "$OUT/gpu-attention.json" >> "$log" 2>&1
echo "attention rc=$?" | tee -a "$log"
step torch-sdpa
PYTHONUNBUFFERED=1 timeout 45 python3 bench/gpu/torch_sdpa.py --contexts 4096,32768,131072 --batches 1,8 \
  --shapes 32x32x128,32x8x128 --backends flash,cudnn --out "$OUT/torch-sdpa.json" >> "$log" 2>&1
echo "torch rc=$?" | tee -a "$log"
step done
grep -i 'stream-read ceiling\|dot4I8Packed\|error\|fail\|skipped\|===' "$log" | cut -c1-300 | tail -30
