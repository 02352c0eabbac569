#!/bin/sh
# Stages issue #20's full study (docs/QUALITY.md, docs/decisions.md#D124) for a many-core machine:
#   bench/quality-gutenberg-job.sh DEST [CALIB_JSON | remote]
# DEST gets node (xz), the model (floats byte-plane shuffled, xz), frankenstein.txt (xz), the
# bundled job (build/bench/quality-gutenberg-job.mjs, kvpack.wasm inlined), the calibrations
# (computed here from train.txt.gz only, or CALIB_JSON if given), units.txt and run.sh
# (bench/job20/run.sh). Then on the machine: cd DEST && bash run.sh [LIMIT_S], results in
# $OUT/results.ndjson; back here:
#   node build/bench/quality-gutenberg-job.mjs merge --out-prefix bench/results/quality-gutenberg results.ndjson
#   node build/bench/quality-gutenberg.mjs --amortize 16 bench/results/quality-gutenberg-ctx*.json
set -eu
DEST=$1
M=../shared/models/gutenberg-bytes-9M; T=../shared/data/gutenberg/frankenstein.txt; C=../shared/data/gutenberg/train.txt.gz
J="node build/bench/quality-gutenberg-job.mjs"
# pairings on all three contexts; the ~1.2-bit ones last
CORE=fp32,kivi2,kivi2@w128,skvq-k2:skvq-v1.5@w128@s5@g128,cq-4c8b,cq-8c8b,q4_0,cq-8c10b:cq-8c8b
# ctx 4096 only, 16 windows
EXTRA=kivi4,kivi2@w128@s5,kivi2@w128@rv,skvq-k2:skvq-v2@w128@s5@g128,skvq-k2:skvq-v1.5,skvq-k2:skvq-v2,skvq-k2:skvq-v1.5@g128,cq-4c9b,cq-8c10b,cq-8c8b@w32,cq-8c10b:cq-8c8b@w32,cq-4c8b:cq-8c8b
# ctx 4096 only, 8 windows (near-lossless or dominated rows, there for "every codec")
LOW=fp16,q8_0,kivi8,skvq-k4:skvq-v2,skvq-k4:skvq-v1.5,cq-2c8b
CAL=cq-2c8b,cq-4c8b,cq-4c9b,cq-8c8b,cq-8c10b,skvq-k2:skvq-v1.5@w128@s5@g128,skvq-k2:skvq-v2@w128@s5@g128,skvq-k2:skvq-v1.5,skvq-k2:skvq-v2,skvq-k4:skvq-v2,skvq-k4:skvq-v1.5,qaq
mkdir -p "$DEST"
if [ "${2:-}" = remote ]; then
  # calibrate on the many-core machine (run.sh, one process per codec): the training text's first
  # 1,000 lines (the calibration reads the first 16,384 tokens, well inside them) and the list
  rm -f "$DEST/calib.json.xz"; echo "${CAL_CODECS:-$CAL}" > "$DEST/cal-codecs.txt"
  gzip -dc $C | head -n 1000 | gzip -9 > "$DEST/train-head.txt.gz"
else
  if [ $# -ge 2 ]; then cp "$2" "$DEST/calib.json"; else $J calibrate --model $M --calib-text $C --tokens 16384 --codecs $CAL --out "$DEST/calib.json"; fi
  xz -T2 -6 -f "$DEST/calib.json"
fi
# priority order: every ctx reaches 32K scored tokens before any goes on to 64K, the papers'
# pairings (CORE) reach 64K before the others go past 32K; QAQ decodes
# step by step (minutes a window), so its long units start first
{
  $J units --codecs qaq --ctx 4096:0:4:1
  $J units --codecs $CORE,$EXTRA,$LOW --ctx 4096:0:8:1
  $J units --codecs $CORE --ctx 2048:0:16:2,1024:0:32:4
  $J units --codecs qaq --ctx 1024:0:8:4
  $J units --codecs $CORE --ctx 4096:8:16:1,2048:16:32:2,1024:32:64:4
  $J units --codecs $EXTRA --ctx 4096:8:16:1
} > "$DEST/units.txt"
xz -T2 -6 -c build/bench/quality-gutenberg-job.mjs > "$DEST/job.mjs.xz"
cp bench/job20/run.sh "$DEST/run.sh"
cp $M/tokenizer.bin "$DEST/"
sha256sum $M/model.bin | cut -d' ' -f1 > "$DEST/model.sha256"
xz -T2 -6 -c $T > "$DEST/frankenstein.txt.xz"
[ -f "$DEST/node.xz" ] || xz -T2 -9 -c "$(readlink -f "$(which node)")" > "$DEST/node.xz"
[ -f "$DEST/model.shuf.xz" ] || python3 -c '
import sys
b = open(sys.argv[1], "rb").read(); h = 28; n = (len(b) - h) // 4
body = b[h:h + 4 * n]
sys.stdout.buffer.write(b[:h] + b"".join(body[k::4] for k in range(4)) + b[h + 4 * n:])' $M/model.bin | xz -T2 -9 > "$DEST/model.shuf.xz"
du -b "$DEST"
