#!/bin/sh
# Issue #20's study: gutenberg-bytes-9M on frankenstein.txt, calibrated on train.txt.gz only.
# Run from the repository root after npm run build and
#   node scripts/build-bench-bundle.mjs bench/quality-gutenberg-job.ts build/bench/quality-gutenberg-job.mjs
#   npx esbuild bench/quality-gutenberg.ts --bundle --platform=node --format=esm --outfile=build/bench/quality-gutenberg.mjs
#
# 1. The table (every codec, ctx 1024/2048/4096, 64K tokens each; ~3 CPU-hours): staged for a
#    many-core machine by bench/quality-gutenberg-job.sh DIR (calibrates here), run there with
#    `cd DIR && bash run.sh 555` (one worker per core, results.ndjson), merged back here:
#      node build/bench/quality-gutenberg-job.mjs merge --out-prefix bench/results/quality-gutenberg results.ndjson
#      node build/bench/quality-gutenberg.mjs --amortize 16 bench/results/quality-gutenberg-ctx*.json
# 2. Below 1.5 bits (CQ shapes the registry does not name, --extra-cq), ctx 4096, on this machine,
#    then every unit (and the core pairings at ctx 2048/1024 run the same way) merged into the tables:
#      cat results.ndjson /tmp/lowbit.ndjson > $R-units.ndjson
#      node build/bench/quality-gutenberg-job.mjs merge --extra-cq $X --out-prefix $R $R-units.ndjson
J="node build/bench/quality-gutenberg-job.mjs"
M=../shared/models/gutenberg-bytes-9M; T=../shared/data/gutenberg/frankenstein.txt; C=../shared/data/gutenberg/train.txt.gz
X=cq-4c6b,cq-4c7b,cq-8c6b,cq-8c4b
R=bench/results/quality-gutenberg
lowbit() {
  $J calibrate --extra-cq $X --model $M --calib-text $C --tokens 16384 --codecs cq-4c6b:cq-8c6b,cq-4c7b:cq-8c4b,cq-4c8b:cq-8c8b,cq-8c8b:cq-8c4b --out /tmp/lowbit-calib.json
  { $J units --codecs fp32,cq-4c6b:cq-8c4b,cq-4c6b:cq-8c6b,cq-4c7b:cq-8c4b,cq-4c7b:cq-8c6b,cq-4c8b:cq-8c4b,cq-4c6b:cq-8c8b --ctx 4096:0:2:1
    $J units --codecs cq-4c6b:cq-8c6b,cq-4c7b:cq-8c6b,fp32 --ctx 4096:2:8:1
    $J units --codecs cq-4c6b:cq-8c6b,fp32 --ctx 4096:8:16:1
    $J units --codecs cq-8c8b:cq-8c6b@w32,cq-8c8b:cq-8c4b@w32 --ctx 4096:0:4:1; } |
    xargs -P 2 -L 1 sh -c "$J unit --extra-cq $X --model $M --text $T --calib /tmp/lowbit-calib.json --spec \$0 --ctx \$1 --first \$2 --count \$3 --out /tmp/lowbit.ndjson"
}
lowbit
# 3. Rotation at ctx 1024 (TS reference of @rk/@rv, D122), through kvpack eval:
node dist/cli.js eval --model $M --text $T --calib-text $C --calib-tokens 4096 --ctx 1024 --windows 4 \
  --codecs fp32,q4_0,q4_0@rk@rv,kivi2,kivi2@rk,kivi2@rv,kivi2@w128@rv,kivi2@w128@rk@rv --json $R-rotation-ctx1024.json
# 4. Rotation before the calibrated codecs (D31, D34) at ctx 1024, 4 windows: plain and rotated
#    calibrated from one 16,384-token capture of train.txt.gz (rotated ones on rotated rows):
RC=fp32,cq-4c8b,cq-4c8b@rk,cq-4c8b@rv,cq-4c8b@rk@rv,cq-8c8b,cq-8c8b@rk,cq-8c8b@rv,cq-8c8b@rk@rv,skvq-k2:skvq-v1.5@g128,skvq-k2:skvq-v1.5@g128@rk,skvq-k2:skvq-v1.5@g128@rv,skvq-k2:skvq-v1.5@g128@rk@rv
RC=$RC,skvq-k2:skvq-v1.5@w128@s5@g128,skvq-k2:skvq-v1.5@w128@s5@g128@rv,skvq-k2:skvq-v1.5@w128@s5@g128@rk@rv,cq-8c8b@w32,cq-8c8b@w32@rv,cq-8c8b@w32@rk@rv,cq-4c8b:cq-8c8b,cq-4c8b:cq-8c8b@rv,cq-4c8b:cq-8c8b@rk@rv
$J calibrate --model $M --calib-text $C --tokens 16384 --codecs $RC --out /tmp/rot-calib.json
$J units --codecs $RC --ctx 1024:0:4:4 | while read s ctx first count; do
  $J unit --model $M --text $T --calib /tmp/rot-calib.json --spec $s --ctx $ctx --first $first --count $count --out /tmp/rot.ndjson
done
$J merge --out-prefix $R-rotation-calibrated /tmp/rot.ndjson
# 5. Outlier channels before and after rotation (D33):
#    node scripts/build-bench-bundle.mjs bench/rotation-outliers.ts build/bench/rotation-outliers.mjs
node build/bench/rotation-outliers.mjs --model $M --text $T --tokens 4096 --out bench/results/rotation-outliers.json
# 5. The ctx-4096 table on a 2-core machine (docs/decisions.md#D160: ~3,800 CPU-seconds), units of
#    8 windows so each process prepares the weights once per 8 windows, calibrations from step 1:
#      $J units --codecs fp32,...every pairing... --ctx 4096:0:16:8 > units.txt
#      xargs -P 2 -L 1 sh -c "$J unit --model $M --text $T --calib calib.json --spec \$0 --ctx \$1 --first \$2 --count \$3 --out r.ndjson" < units.txt
