/**
 * The smallest WASM kernel that shows the bounds-check cost (bench/workerd-wasm.mjs, D162):
 * `run(reps)` is `reps` dot products of two 8,192-float vectors in linear memory (bytes 0-32 KiB
 * and 32-64 KiB), f32x4 with four accumulators: 8 v128 loads per loop iteration at constant offsets
 * from one index, as kvpack's attention kernels load. Returns the bits of one lane (a check value).
 * Hand-encoded bytes, no kvpack code and no JS between loads, so Node and workerd run the same
 * module. With V8's trap handler a load is a plain load (guard regions catch out-of-bounds
 * accesses); without it V8 compiles an explicit compare-and-branch before every load.
 * The caller fills the memory with ordinary floats (zeroed memory would do too; integer bit
 * patterns would be subnormal floats, slow on x86).
 */
const leb = (n) => (n < 128 ? [n] : [(n & 127) | 128, ...leb(n >>> 7)]);
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
const str = (s) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const HALF = 32768; // bytes per vector
// locals: 0 = $reps (param), 1 = $i (i32), 2-5 = four f32x4 accumulators
const body = [
  2, 1, 0x7f, 4, 0x7b,
  0x02, 0x40, // block
  0x03, 0x40, // loop $outer
  0x20, 0, 0x45, 0x0d, 1, // reps == 0 -> exit
  0x41, 0, 0x21, 1, // i = 0
  0x03, 0x40, // loop $inner
  // acc_k = f32x4.add(acc_k, f32x4.mul(v128.load(i + 16k), v128.load(i + HALF + 16k))), k = 0..3
  ...[0, 1, 2, 3].flatMap((k) => [
    0x20, 2 + k,
    0x20, 1, 0xfd, 0x00, 4, ...leb(16 * k),
    0x20, 1, 0xfd, 0x00, 4, ...leb(HALF + 16 * k),
    0xfd, 0xe6, 0x01, // f32x4.mul
    0xfd, 0xe4, 0x01, // f32x4.add
    0x21, 2 + k,
  ]),
  0x20, 1, 0x41, 0xc0, 0x00, 0x6a, 0x22, 1, 0x41, ...[0x80, 0x80, 0x02], 0x49, 0x0d, 0, // i += 64; loop while i < HALF
  0x0b, // end inner
  0x20, 0, 0x41, 1, 0x6b, 0x21, 0, 0x0c, 0, // reps -= 1; continue outer
  0x0b, 0x0b, // end loop, end block
  0x20, 2, 0xfd, 0x1b, 0, // i32x4.extract_lane 0 of accumulator 0
  0x0b,
];
/** The module's bytes (~200): exports `run(reps) -> i32` and `memory` (2 pages, 128 KiB). */
export function loadLoopWasm() {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7f]), // type (i32) -> i32
    ...section(3, [1, 0]), // one function of type 0
    ...section(5, [1, 0, 2]), // one memory, 2 pages
    ...section(7, [2, ...str('memory'), 2, 0, ...str('run'), 0, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

/** Fills the first 64 KiB of the module's memory with the floats run() dots. */
export function fillLoadLoop(memory) {
  const f = new Float32Array(memory.buffer, 0, 2 * HALF / 4);
  for (let i = 0; i < f.length; i++) f[i] = ((i * 37) % 101) / 101 - 0.5;
}
