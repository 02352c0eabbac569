#!/bin/sh
# Builds the scratch modules with the project's asc (base SIMD and the relaxed build's features).
set -e
cd "$(dirname "$0")"
ASC=../../node_modules/.bin/asc
$ASC lut.ts -O3 --noAssert --runtime stub --enable simd -o lut.wasm
$ASC lut.ts -O3 --noAssert --runtime stub --enable simd --enable relaxed-simd -o lut-relaxed.wasm
