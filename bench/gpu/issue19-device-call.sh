#!/bin/bash
# Issue 19's measurement call on the GPU machine (docs/decisions.md#D150-D152): every step of one
# device call, in priority order, each under its own time limit, results into $OUT as they come.
# Staged from a worktree into the main checkout's git-excluded .gpuwork/ (the device tool copies
# that checkout):
#   npx esbuild bench/gpu/attention.ts    --bundle --platform=node --format=esm --external:webgpu --outfile=build/bench/gpu-attention.js
#   npx esbuild bench/gpu/decoder-step.ts --bundle --platform=node --format=esm --external:webgpu --outfile=build/bench/gpu-decoder-step.js
#   .gpuwork/ = build/bench/*.js + bench/gpu/{*.wgsl,*.py,issue19-device-call.sh}
# run (carry .devbundle and .gpuwork):  source .devbundle/setup.sh; bash .gpuwork/bench/gpu/issue19-device-call.sh
set -u
cd .gpuwork
log="$OUT/run.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt" | tee -a "$log"
t0=$(date +%s)
step() { echo "=== $* (t=$(( $(date +%s) - t0 )) s)" | tee -a "$log"; }

# 1. streaming read + attention, MHA and GQA, batch 1 and 8, every packed codec (+ fp16 peer);
#    sweeps: in-call A/B of the chained dot products (D150) against the vec4 dots, two rounds
step attention
timeout 210 node build/bench/gpu-attention.js --contexts 4096,32768,131072 --batches 1,8 \
  --codecs kivi2,kivi4,q4_0,skvq128,skvq,q8_0,fp16 --layers 0 --mem-gib 40 \
  --sweep "kivi2/32x8x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;kivi2/32x32x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;kivi4/32x8x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;kivi4/32x32x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;q4_0/32x8x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;q4_0/32x32x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;skvq128/32x8x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto;skvq128/32x32x128/1/131072/base:auto,fold-sg-xFOLD_DOT_CHAIN=false:auto" --repeat 2 \
  --json "$OUT/gpu-attention.json" >> "$log" 2>&1
# 2. PyTorch SDPA fp16, same shapes
step torch-sdpa
PYTHONUNBUFFERED=1 timeout 70 python3 bench/gpu/torch_sdpa.py --contexts 4096,32768,131072 --batches 1,8 \
  --backends flash,cudnn --out "$OUT/torch-sdpa.json" >> "$log" 2>&1
# 3. decoder step, Llama-3-8B shape: page pools grown vs reserved, append / attention split
step decoder-step
timeout 140 node build/bench/gpu-decoder-step.js --models llama3-8b --codecs kivi2,fp16,kivi4,skvq \
  --contexts 32768,131072 --pools grow,reserve --mem-gib 79 --margin-gib 6 --steps 32 \
  --json "$OUT/e2e-webgpu.json" >> "$log" 2>&1
# 4. PyTorch decoder step, eager and as one replayed CUDA graph
step torch-decoder-step
PYTHONUNBUFFERED=1 timeout 75 python3 bench/gpu/torch_decoder_step.py --models llama3-8b --contexts 32768,131072 \
  --steps 32 --graph --out "$OUT/e2e-torch.json" >> "$log" 2>&1
# 5. the same attention kernels without Dawn's index clamping (an engine that owns its device)
step attention-disable-robustness
KVPACK_DAWN_ENABLE=disable_robustness timeout 45 node build/bench/gpu-attention.js --contexts 131072 --batches 1 \
  --codecs kivi2,kivi4,q4_0,skvq128 --layers 0 --mem-gib 40 --json "$OUT/attention-norobust.json" >> "$log" 2>&1
step done
grep -v '^{' "$log" | grep -i 'stream-read ceiling\|error\|fail\|done\|===' | tail -30
