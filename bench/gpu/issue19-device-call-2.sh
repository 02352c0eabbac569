#!/bin/bash
# Issue 19's second device call (docs/decisions.md#D152): the decoder step with page pools reserved
# for the context (GpuCacheOptions.reserveTokens) at the contexts the first call
# (issue19-device-call.sh) did not run, and the CUDA-graph PyTorch peer there. Staged and run like
# the first: source .devbundle/setup.sh; bash .gpuwork/bench/gpu/issue19-device-call-2.sh
set -u
cd .gpuwork
log="$OUT/run2.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu2.txt" 2>&1
t0=$(date +%s)
step() { echo "=== $* (t=$(( $(date +%s) - t0 )) s)" | tee -a "$log"; }
step decoder-step-llama3
timeout 100 node build/bench/gpu-decoder-step.js --models llama3-8b --codecs kivi2,fp16,kivi4,skvq \
  --contexts 4096,524288 --pools reserve --mem-gib 79 --margin-gib 6 --steps 32 \
  --json "$OUT/e2e-webgpu-llama3.json" >> "$log" 2>&1
step decoder-step-llama2
timeout 70 node build/bench/gpu-decoder-step.js --models llama2-7b --codecs kivi2,fp16 \
  --contexts 4096,32768,131072 --pools reserve --mem-gib 79 --margin-gib 6 --steps 32 \
  --json "$OUT/e2e-webgpu-llama2.json" >> "$log" 2>&1
step torch-decoder-step
PYTHONUNBUFFERED=1 timeout 35 python3 bench/gpu/torch_decoder_step.py --models llama3-8b --contexts 4096 \
  --steps 32 --graph --out "$OUT/e2e-torch-llama3.json" >> "$log" 2>&1
PYTHONUNBUFFERED=1 timeout 45 python3 bench/gpu/torch_decoder_step.py --models llama2-7b --contexts 4096,32768 \
  --steps 32 --graph --out "$OUT/e2e-torch-llama2.json" >> "$log" 2>&1
step done
grep -v '^{' "$log" | grep 'tok/s\|===\|rror' | cut -c1-260
