#!/bin/bash
# Issue #20's study on a many-core machine (no GPU needed): unpacks node, the model and the
# calibrations staged by bench/quality-gutenberg-job.sh, runs units.txt with one node worker per
# core until LIMIT seconds after start, appending each finished unit to $OUT/results.ndjson.
#   cd .devjob20 && bash run.sh [LIMIT_SECONDS]
set -u
LIMIT=${1:-555}
START=$(date +%s)
DEADLINE=$((START + LIMIT))
OUT=${OUT:-/tmp/out20}
mkdir -p "$OUT"
LOG=$OUT/log.txt
exec >>"$LOG" 2>&1
HERE=$(pwd)
W=${JOB20_WORK:-/tmp/job20}
mkdir -p "$W/model"
echo "start $(date -u +%FT%TZ) limit ${LIMIT}s nproc $(nproc) $(grep -m1 'model name' /proc/cpuinfo)"
unpack() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
unpack node.xz "$W/node" && chmod +x "$W/node" || { echo "FATAL: node did not unpack"; exit 1; }
"$W/node" --version
unpack model.shuf.xz "$W/model.shuf" &
[ -f calib.json.xz ] && unpack calib.json.xz "$W/calib.json" &
unpack frankenstein.txt.xz "$W/frankenstein.txt" &
unpack job.mjs.xz "$W/job.mjs" &
wait
cp tokenizer.bin "$W/model/"
# the model's floats were stored byte-plane by byte-plane (xz packs that 8% smaller)
"$W/node" -e '
const fs = require("fs"); const s = fs.readFileSync(process.argv[1]); const h = 28, n = Math.floor((s.length - h) / 4);
const o = Buffer.alloc(s.length); s.copy(o, 0, 0, h);
for (let b = 0; b < 4; b++) for (let i = 0; i < n; i++) o[h + 4 * i + b] = s[h + b * n + i];
s.copy(o, h + 4 * n, h + 4 * n); fs.writeFileSync(process.argv[2], o);' "$W/model.shuf" "$W/model/model.bin"
echo "$(cat model.sha256)  $W/model/model.bin" | sha256sum -c - || { echo "FATAL: model checksum"; exit 1; }
echo "unpacked in $(( $(date +%s) - START )) s; $(wc -l <units.txt) units"
export W DEADLINE OUT HERE
# calibrations staged as a list (quality-gutenberg-job.sh DEST remote): one process per codec here,
# merged into one table; the merged calib.json is kept in $OUT for later runs
if [ ! -f calib.json.xz ]; then
  t0=$(date +%s)
  for c in $(tr ',' ' ' <cal-codecs.txt); do echo "$c key"; echo "$c value"; done | xargs -P "${JOBS:-$(nproc)}" -L 1 bash -c '
    f="$W/calib-$(echo "$1-$2" | tr -c "a-z0-9.-" _)"
    timeout $((DEADLINE - $(date +%s))) "$W/node" "$W/job.mjs" calibrate --model "$W/model" --calib-text train-head.txt.gz \
      --tokens 16384 --codecs "$1" --kinds "$2" --out "$f.json" 2>"$f.log" || echo "FAILED calibrate $*"' cal
  "$W/node" -e '
const fs = require("fs"); const out = { table: {} };
for (const f of process.argv.slice(2)) { const j = JSON.parse(fs.readFileSync(f, "utf8")); out.tokens = j.tokens; out.source = j.source; Object.assign(out.table, j.table); }
fs.writeFileSync(process.env.W + "/calib.json", JSON.stringify(out)); console.log("calibrations:", Object.keys(out.table).length);' "$W"/calib-*.json
  xz -T4 -6 -c "$W/calib.json" >"$OUT/calib.json.xz"
  echo "calibrated in $(( $(date +%s) - t0 )) s"
fi
N=${JOBS:-$(nproc)}
grep -v '^\s*$' units.txt | xargs -P "$N" -L 1 bash -c '
  rem=$((DEADLINE - $(date +%s)))
  if [ "$rem" -le 5 ]; then echo "skip $*"; exit 0; fi
  t0=$(date +%s)
  timeout "$rem" "$W/node" "$W/job.mjs" unit --model "$W/model" --text "$W/frankenstein.txt" --calib "$W/calib.json" \
    --spec "$1" --ctx "$2" --first "$3" --count "$4" --out "$OUT/results.ndjson" || echo "FAILED rc=$? $*"
  echo "unit $* $(( $(date +%s) - t0 )) s"
' unit
echo "end $(date -u +%FT%TZ): $(wc -l <"$OUT/results.ndjson" 2>/dev/null || echo 0) units done in $(( $(date +%s) - START )) s"
