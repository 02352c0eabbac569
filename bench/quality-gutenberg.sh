#!/bin/sh
# Issue #20's study: gutenberg-bytes-9M on frankenstein.txt, calibrated on train.txt.gz (4,096
# tokens), whole-window evaluation (kvpack eval --mode auto). Run from the repository root after
# npm run build; each line writes bench/results/quality-gutenberg-*.json and .svg, then
#   node build/bench/quality-gutenberg.mjs --amortize 16 bench/results/quality-gutenberg-ctx*.json
# prints the tables of docs/QUALITY.md. Runs in the background with nice (hours on 2 loaded cores
# for the full 64K-token evaluation: raise --windows to 16 / 32 / 64 for 4096 / 2048 / 1024).
M=../shared/models/gutenberg-bytes-9M; T=../shared/data/gutenberg/frankenstein.txt; C=../shared/data/gutenberg/train.txt.gz
K="node dist/cli.js eval --model $M --text $T --calib-text $C --calib-tokens 4096"
CORE=fp32,kivi2,kivi2@w128,kivi2@w128@s5,skvq-k2:skvq-v1.5@w128@s5@g128,skvq-k2:skvq-v2@w128@s5@g128,skvq-k2:skvq-v1.5,cq-4c8b,cq-8c8b,cq-8c10b,q4_0,kivi4
R=bench/results/quality-gutenberg
$K --ctx 4096 --windows 1 --codecs $CORE --json $R-ctx4096.json
$K --ctx 1024 --windows 4 --codecs fp32,q4_0,q4_0@rk@rv,kivi2,kivi2@rk,kivi2@rv,kivi2@w128@rv,kivi2@w128@rk@rv --json $R-rotation-ctx1024.json
