#!/usr/bin/env node
/**
 * Scratch experiment (docs/decisions.md#D170): LUT key scoring (T-MAC style i8x16.swizzle lookups)
 * against the integer kernel's dot-product loop, 2-bit KIVI keys, GQA group 4, d 128, 32-token tiles.
 *
 *   sh bench/lut-keys/build.sh
 *   nice -n 10 node --experimental-wasm-relaxed-simd bench/lut-keys/run.mjs [--tokens 32768] [--rounds 9] [--reps 20]
 *
 * Without the flag the relaxed module is skipped. Prints timings (ns per token and query head, keys
 * only, per-tile table build included), the cost split, and the precision of every variant against
 * an f64 reference over the same dequantized keys (scores, and the attention output after softmax).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
const N = Number(arg('--tokens', '32768')), ROUNDS = Number(arg('--rounds', '9')), REPS = Number(arg('--reps', '20'));
const LOGIT_STD = Number(arg('--logit-std', '2.5'));
const D = 128, H = 4, TT = 32, nTiles = N / TT;
if (N % TT) throw new Error('--tokens must be a multiple of 32');

// ---------------------------------------------------------------- data
let seed = 12345;
const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return (seed + 0.5) / 4294967296; };
const gauss = () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
// keys: per-channel mean and spread, 4 outlier channels (x10 spread, offset), as real keys have
const mu = new Float64Array(D), sig = new Float64Array(D);
for (let c = 0; c < D; c++) { mu[c] = 0.3 * gauss(); sig[c] = 0.5 + rnd(); }
for (const c of [5, 37, 70, 101]) { mu[c] = 6 * (rnd() < 0.5 ? -1 : 1); sig[c] = 10; }
const K = new Float32Array(N * D);
for (let t = 0; t < N; t++) for (let c = 0; c < D; c++) K[t * D + c] = mu[c] + sig[c] * gauss();

// KIVI 2-bit keys: per tile and channel (min, max) over 32 tokens, asymmetric codes
const scales = new Float32Array(nTiles * D), zeros = new Float32Array(nTiles * D);
const codes = new Uint8Array(N * 32), Kq = new Float32Array(N * D);
for (let tile = 0; tile < nTiles; tile++) {
  for (let c = 0; c < D; c++) {
    let mn = Infinity, mx = -Infinity;
    for (let t = tile * TT; t < tile * TT + TT; t++) { const x = K[t * D + c]; mn = Math.min(mn, x); mx = Math.max(mx, x); }
    const s = Math.fround((mx - mn) / 3), z = Math.fround(mn);
    scales[tile * D + c] = s; zeros[tile * D + c] = z;
    for (let t = tile * TT; t < tile * TT + TT; t++) {
      const code = s > 0 ? Math.max(0, Math.min(3, Math.round((K[t * D + c] - z) / s))) : 0;
      codes[t * 32 + (c >> 2)] |= code << (2 * (c & 3));
      Kq[t * D + c] = Math.fround(Math.fround(code * s) + z);
    }
  }
}
// queries: Gaussian, scaled so the exact logits (score / sqrt d) have std LOGIT_STD (peaky softmax)
const Q = new Float32Array(H * D);
for (let i = 0; i < H * D; i++) Q[i] = gauss();
function exactScores(keys) {
  const s = new Float64Array(H * N);
  for (let j = 0; j < H; j++) for (let t = 0; t < N; t++) {
    let a = 0; for (let c = 0; c < D; c++) a += Q[j * D + c] * keys[t * D + c];
    s[j * N + t] = a;
  }
  return s;
}
{
  const s = exactScores(Kq);
  for (let j = 0; j < H; j++) {
    let m = 0, v = 0; for (let t = 0; t < N; t++) m += s[j * N + t]; m /= N;
    for (let t = 0; t < N; t++) v += (s[j * N + t] - m) ** 2;
    const f = LOGIT_STD / (Math.sqrt(v / N) / Math.sqrt(D));
    for (let c = 0; c < D; c++) Q[j * D + c] = Math.fround(Q[j * D + c] * f);
  }
}
const ref = exactScores(Kq), refFloat = exactScores(K);
const V = new Float64Array(N * D);
for (let i = 0; i < N * D; i++) V[i] = gauss();

// ---------------------------------------------------------------- modules
function load(file) {
  const mod = new WebAssembly.Module(readFileSync(here + file));
  const inst = new WebAssembly.Instance(mod, { env: { abort() { throw new Error('abort'); } } });
  const e = inst.exports, mem = e.memory;
  let p = Number(e.heapBase());
  const alloc = (bytes) => { const a = p; p += (bytes + 15) & ~15; return a; };
  const A = { codes: alloc(N * 32), lut: alloc(N * 32), sc: alloc(nTiles * D * 4), ze: alloc(nTiles * D * 4), q: alloc(H * D * 4), out: alloc(H * N * 4) };
  const need = p - mem.buffer.byteLength;
  if (need > 0) mem.grow(Math.ceil(need / 65536));
  new Uint8Array(mem.buffer, A.codes, N * 32).set(codes);
  new Float32Array(mem.buffer, A.sc, nTiles * D).set(scales);
  new Float32Array(mem.buffer, A.ze, nTiles * D).set(zeros);
  new Float32Array(mem.buffer, A.q, H * D).set(Q);
  return { e, mem, A };
}
const relaxedOk = process.execArgv.some((a) => a.includes('relaxed-simd'));
const mods = { base: load('lut.wasm') };
if (relaxedOk) mods.relaxed = load('lut-relaxed.wasm');

// layout transform (pack time), timed separately
const tr = {};
for (const [name, m] of Object.entries(mods)) {
  const ts = [];
  for (let r = 0; r < 5; r++) { const t0 = process.hrtime.bigint(); m.e.lut_transform(m.A.codes, nTiles, m.A.lut); ts.push(Number(process.hrtime.bigint() - t0)); }
  tr[name] = Math.min(...ts) / N; // ns per token (one KV head)
}

const VARIANTS = [];
for (const [mname, m] of Object.entries(mods)) {
  const { e, A } = m, tag = mname === 'relaxed' ? '+relaxed' : '';
  VARIANTS.push({ name: 'int (baseline)' + tag, m, run: () => e.base_scores(A.codes, A.sc, A.ze, A.q, nTiles, A.out, N) });
  VARIANTS.push({ name: 'LUT i8' + tag, m, run: () => e.lut_scores(A.lut, A.sc, A.ze, A.q, nTiles, A.out, N, 0) });
  VARIANTS.push({ name: 'LUT i8, pairs summed in i8' + tag, m, run: () => e.lut_scores(A.lut, A.sc, A.ze, A.q, nTiles, A.out, N, 1) });
  VARIANTS.push({ name: 'LUT i16 two planes' + tag, m, run: () => e.lut_scores(A.lut, A.sc, A.ze, A.q, nTiles, A.out, N, 2) });
  VARIANTS.push({ name: 'LUT i16 exact, split sums' + tag, m, run: () => e.lut_scores(A.lut, A.sc, A.ze, A.q, nTiles, A.out, N, 3) });
  VARIANTS.push({ name: 'LUT i16 /2, pairs summed' + tag, m, run: () => e.lut_scores(A.lut, A.sc, A.ze, A.q, nTiles, A.out, N, 4) });
  // cost split (not a kernel: the parts of the ones above)
  VARIANTS.push({ name: '  int: per-tile query fold+i16' + tag, m, part: true, run: () => e.base_fold_only(A.sc, A.ze, A.q, nTiles) });
  VARIANTS.push({ name: '  int: dot loop+finish' + tag, m, part: true, run: () => e.base_dot_only(A.codes, nTiles, A.out, N) });
  for (const [v, n] of [[0, 'i8'], [1, 'i8 pairs'], [2, 'i16'], [3, 'i16 exact'], [4, 'i16 /2 pairs']]) {
    VARIANTS.push({ name: `  LUT ${n}: fold+tables` + tag, m, part: true, run: () => e.lut_build_only(A.sc, A.ze, A.q, nTiles, v) });
    VARIANTS.push({ name: `  LUT ${n}: lookups+finish` + tag, m, part: true, run: () => e.lut_score_only(A.lut, nTiles, A.out, N, v) });
  }
}

// ---------------------------------------------------------------- precision (before timing)
function softmaxOut(s, j) {
  let mx = -Infinity; for (let t = 0; t < N; t++) mx = Math.max(mx, s[j * N + t] / Math.sqrt(D));
  const o = new Float64Array(D); let den = 0;
  for (let t = 0; t < N; t++) {
    const w = Math.exp(s[j * N + t] / Math.sqrt(D) - mx); den += w;
    for (let c = 0; c < D; c++) o[c] += w * V[t * D + c];
  }
  for (let c = 0; c < D; c++) o[c] /= den;
  return o;
}
const oRef = [...Array(H).keys()].map((j) => softmaxOut(ref, j));
function outErr(s) {
  let e = 0;
  for (let j = 0; j < H; j++) {
    const o = softmaxOut(s, j); let mr = 1;
    for (let c = 0; c < D; c++) mr = Math.max(mr, Math.abs(oRef[j][c]));
    for (let c = 0; c < D; c++) e = Math.max(e, Math.abs(o[c] - oRef[j][c]) / mr);
  }
  return e;
}
let maxRef = 0; for (const x of ref) maxRef = Math.max(maxRef, Math.abs(x));
const prec = {};
for (const v of VARIANTS.filter((x) => !x.part)) {
  v.run();
  const s = new Float32Array(v.m.mem.buffer, v.m.A.out, H * N);
  let me = 0; for (let i = 0; i < H * N; i++) me = Math.max(me, Math.abs(s[i] - ref[i]));
  prec[v.name] = { scoreRel: me / maxRef, logitAbs: me / Math.sqrt(D), out: outErr(Float64Array.from(s)) };
}
let codecScore = 0; for (let i = 0; i < H * N; i++) codecScore = Math.max(codecScore, Math.abs(refFloat[i] - ref[i]));
const codecOut = (() => { let e = 0; for (let j = 0; j < H; j++) { const o = softmaxOut(refFloat, j); let mr = 1; for (let c = 0; c < D; c++) mr = Math.max(mr, Math.abs(oRef[j][c])); for (let c = 0; c < D; c++) e = Math.max(e, Math.abs(o[c] - oRef[j][c]) / mr); } return e; })();

// ---------------------------------------------------------------- timing: interleaved rounds
for (const v of VARIANTS) for (let i = 0; i < 3; i++) v.run(); // warm (TurboFan)
const times = new Map(VARIANTS.map((v) => [v.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = VARIANTS.map((_, i) => (i + r) % VARIANTS.length);
  for (const i of order) {
    const v = VARIANTS[i];
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < REPS; k++) v.run();
    times.get(v.name).push(Number(process.hrtime.bigint() - t0) / (REPS * N * H));
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

console.log(`CPU: ${cpus()[0].model}, ${cpus().length} cores; Node ${process.version}; ${N} tokens, group ${H}, d ${D}, 2-bit KIVI keys, ` +
  `${ROUNDS} interleaved rounds x ${REPS} calls; logit std ${LOGIT_STD}`);
console.log(`layout transform (scalar, pack time): ${Object.entries(tr).map(([k, v]) => `${k} ${v.toFixed(1)} ns/token`).join(', ')}`);
console.log('variant | ns/token/head median | min | vs int (median) | max|score err|/max|score| | max logit err | output err / max(1,|ref|)');
const baseMed = {};
for (const v of VARIANTS) {
  const t = times.get(v.name), m = med(t), mn = Math.min(...t);
  if (v.name.startsWith('int (baseline)')) baseMed[v.name.includes('relaxed') ? 'r' : 'b'] = m;
  const b = baseMed[v.name.includes('relaxed') ? 'r' : 'b'];
  const p = prec[v.name];
  console.log(`${v.name} | ${m.toFixed(2)} | ${mn.toFixed(2)} | ${v.part ? '' : (b / m).toFixed(2) + 'x'} | ` +
    (p ? `${p.scoreRel.toExponential(2)} | ${p.logitAbs.toExponential(2)} | ${p.out.toExponential(2)}` : ''));
}
console.log(`codec itself (2-bit keys vs float keys): max|score err|/max|score| ${(codecScore / maxRef).toExponential(2)}, output err ${codecOut.toExponential(2)}`);
