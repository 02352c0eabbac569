#!/bin/bash
# Thread scaling of the WASM backend on another machine (issue 21, decisions.md#D44-D45), as one
# self-contained folder staged by bench/cpu/stage-threads-job.sh: node.xz (this Node binary),
# payload.tar.xz (build/kvpack.wasm, the bundled benchmarks, dist/index.js for the workers,
# onnxruntime-node + onnxruntime-common pruned to linux-x64) and this script as run.sh.
#
#   cd FOLDER && OUT=/tmp/out bash run.sh          # CTX=32768 REPS=3 by default
#   CTX=2048 REPS=1 OUT=/tmp/x bash run.sh         # a smoke run
#
# Runs, each as its own process, results under $OUT:
#  1. threads-warmup: per-call times of a 2-thread pool from its first step, with a module compiled
#     from bytes (the old benchmark) and with the one-thread backend's module (D44);
#  2./3. REPS x, alternating: the CPU benchmark, GQA and MHA, kivi2 and SKVQ K2/V1.5, integer
#     kernels, 32K, unpinned with --scaling 1,2,4,8 (scaling-N.json / .log), then the same pinned to
#     two CPUs on different physical cores (PIN, default: CPU 0 and the first CPU that is not its
#     hyperthread sibling; taskset) with --scaling 1,2 (pinned01-N.json / .log); the logs also hold the
#     one-thread tables (xORT1c: onnxruntime 1 thread / kvpack 1 thread, CPU time).
# Stops starting new runs after BUDGET seconds (default 380) so the whole job stays under ~7 min.
set -u
OUT=${OUT:-/tmp/out}
CTX=${CTX:-32768}
REPS=${REPS:-3}
BUDGET=${BUDGET:-380}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/kvpack-threads.XXXXXX)
mkdir -p "$OUT"
T0=$(date +%s)
LOG="$OUT/log.txt"
say() { echo "== $* (t=$(( $(date +%s) - T0 )) s)" | tee -a "$LOG"; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }

if ! xz -dc "$HERE/node.xz" > "$W/node" 2>/dev/null; then
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$HERE/node.xz" "$W/node"
fi
chmod +x "$W/node"
if ! tar -xJf "$HERE/payload.tar.xz" -C "$W" 2>/dev/null; then
  python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$HERE/payload.tar.xz" "$W"
fi
NODE="$W/node"
say "unpacked; kvpack $(cat "$HERE/COMMIT" 2>/dev/null || echo "?"); node $("$NODE" -v); CTX=$CTX REPS=$REPS"
{
  echo "== lscpu"; lscpu
  echo "== nproc $(nproc)"
  echo "== cpu topology (cpu: core_id, thread_siblings_list)"
  for c in /sys/devices/system/cpu/cpu[0-9]*; do
    [ -r "$c/topology/core_id" ] && echo "$(basename "$c"): $(cat "$c/topology/core_id") $(cat "$c/topology/thread_siblings_list")"
  done
  echo "== load"; cat /proc/loadavg
} > "$OUT/machine.txt" 2>&1

# pin a command to CPUs $1 (comma list): taskset where present, else Python's sched_setaffinity
pin() {
  local cpus=$1; shift
  if command -v taskset > /dev/null; then taskset -c "$cpus" "$@"
  else python3 -c "import os,sys; os.sched_setaffinity(0,{int(c) for c in sys.argv[1].split(',')}); os.execv(sys.argv[2], sys.argv[2:])" "$cpus" "$@"
  fi
}

# two CPUs on distinct physical cores: CPU 0 and the first CPU outside CPU 0's sibling list
if [ -z "${PIN:-}" ]; then
  SIB0=$(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list 2>/dev/null || echo 0)
  PIN=$(python3 -c "
import sys
def parse(s):
    out=set()
    for part in s.split(','):
        a,_,b=part.partition('-'); out.update(range(int(a),int(b or a)+1))
    return out
sib=parse(sys.argv[1]); n=int(sys.argv[2])
print('0,'+str(next((c for c in range(1,n) if c not in sib),1)))" "$SIB0" "$(nproc)" 2>/dev/null || echo 0,1)
fi
say "pinned runs use CPUs $PIN (CPU 0 siblings: ${SIB0:-?})"

cd "$W"
say "[1] threads-warmup: 2-thread pool per call, fresh module vs shared (GQA kivi2, integer kernels)"
timeout 90 "$NODE" build/bench/threads-warmup.js kivi2 gqa "$CTX" 2 12 2>&1 | tee "$OUT/threads-warmup.txt" | tee -a "$LOG"
timeout 60 "$NODE" build/bench/threads-warmup.js kivi2 gqa "$CTX" 4 12 2>&1 | tee -a "$OUT/threads-warmup.txt" | tee -a "$LOG"

BENCH=(build/bench/cpu-attention.js --contexts "$CTX" --shapes gqa,mha --codecs kivi2,skvq-k2:skvq-v1.5 --integer)
for i in $(seq 1 "$REPS"); do
  if [ "$(left)" -gt 60 ]; then
    say "[2.$i] unpinned, --scaling 1,2,4,8"
    timeout "$(left)" "$NODE" "${BENCH[@]}" --scaling 1,2,4,8 --out "$OUT/scaling-$i.json" > "$OUT/scaling-$i.log" 2>&1
    say "exit $?"; grep -A20 '^thread scaling' "$OUT/scaling-$i.log" | tee -a "$LOG"
  else say "budget: skip unpinned run $i"; fi
  if [ "$(left)" -gt 45 ]; then
    say "[3.$i] pinned to CPUs $PIN, --scaling 1,2"
    pin "$PIN" timeout "$(left)" "$NODE" "${BENCH[@]}" --scaling 1,2 --out "$OUT/pinned01-$i.json" > "$OUT/pinned01-$i.log" 2>&1
    say "exit $?"; grep -A12 '^thread scaling' "$OUT/pinned01-$i.log" | tee -a "$LOG"
  else say "budget: skip pinned run $i"; fi
done
say "done"
rm -rf "$W"
