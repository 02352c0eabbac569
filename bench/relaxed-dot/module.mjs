// The benchmark module as WebAssembly text, built with binaryen (Node side only). Binaryen 112
// spells the relaxed instruction by its earlier name `i32x4.dot_i8x16_i7x16_add_s`; the opcode
// it emits is the standard's (0xfd 0x113), checked in every engine by `check` (measure.mjs).
import binaryen from 'binaryen';

const ACC = 8;
// y changes every iteration (an XOR that keeps its bytes in 0..127, 1 op per 8 dots), so no engine
// can hoist dot(x_i, y) out of the loop (JavaScriptCore did with a constant y, leaving the adds)
// x_i at 16 i, y at 128: i8 lanes in [-128, 127] (x) and [0, 127] (y, the i7 operand)
function data() {
  const b = new Uint8Array(144);
  for (let i = 0; i < 128; i++) b[i] = (i * 37 + 11) & 0xff;
  for (let i = 0; i < 16; i++) b[128 + i] = (i * 29 + 5) & 0x7f;
  return Array.from(b, (v) => `\\${v.toString(16).padStart(2, '0')}`).join('');
}

// x_i is loaded in the loop (as kernels load their query vectors): 8 accumulators + y + x in
// registers (x64 has 16 vector registers; with x_i held too, V8 spilled accumulators)
const locals = Array.from({ length: ACC }, (_, i) => `(local $a${i} v128)`).join(' ');
const sum = Array.from({ length: ACC }, (_, i) =>
  `(i32.add (i32.add (i32x4.extract_lane 0 (local.get $a${i})) (i32x4.extract_lane 1 (local.get $a${i}))) (i32.add (i32x4.extract_lane 2 (local.get $a${i})) (i32x4.extract_lane 3 (local.get $a${i}))))`)
  .reduce((s, t) => `(i32.add ${s} ${t})`);

function kernel(name, body) {
  const step = Array.from({ length: ACC }, (_, i) => `(local.set $a${i} ${body(`(v128.load offset=${16 * i} (i32.const 0))`, `(local.get $a${i})`)})`).join('\n');
  return `(func (export "${name}") (param $n i32) (result i32) (local $y v128) ${locals}
  (local.set $y (v128.load offset=128 (i32.const 0)))
  (block $done (loop $next
    (br_if $done (i32.eqz (local.get $n)))
    ${step}
    (local.set $y (v128.xor (local.get $y) (v128.const i32x4 0x3f3f3f3f 0x3f3f3f3f 0x3f3f3f3f 0x3f3f3f3f)))
    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
    (br $next)))
  ${sum})`;
}

const y = '(local.get $y)';
// base-SIMD reference of the relaxed dot: bytes widened to i16, pair sums, then quads
const refDot = (x, a) => `(i32x4.add ${a} (i32x4.add
  (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s ${x}) (i16x8.extend_low_i8x16_s ${y})) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s ${x}) (i16x8.extend_high_i8x16_s ${y})))
  (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s ${x}) (i16x8.extend_low_i8x16_s ${y})) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s ${x}) (i16x8.extend_high_i8x16_s ${y})))))`;

export const WAT = `(module (memory 1) (data (i32.const 0) "${data()}")
${kernel('dot16', (x, a) => `(i32x4.add ${a} (i32x4.dot_i16x8_s ${x} ${y}))`)}
${kernel('relaxed', (x, a) => `(i32x4.dot_i8x16_i7x16_add_s ${x} ${y} ${a})`)}
${kernel('relaxedRef', refDot)}
)`;

export function buildModule() {
  const m = binaryen.parseText(WAT);
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
  if (!m.validate()) throw new Error('relaxed-dot module does not validate');
  const bytes = m.emitBinary(); // no optimization: the loops stay as written
  m.dispose();
  return bytes;
}
