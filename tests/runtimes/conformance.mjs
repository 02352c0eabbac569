/**
 * The conformance subset that runs in every runtime (Bun, Chromium, Deno, Node, workerd): plain
 * ESM with no imports, handed the kvpack module (the dist bundle or the installed package) and a
 * backend. For every tile codec that needs no calibration (walked from `kv.listCodecs()`, so a new
 * one is tested without editing a list) as keys, paired with a rotating value codec, over three
 * shapes (GQA and MHA, head_dim 40/64/128, tails that do not fill a tile, sinks and a window,
 * two sequences of different lengths), the backend's attention is compared with
 * `kv.attendReference` (plain TS, f64 sums) over the same packed cache.
 *
 * Plus one KIVI GQA case (group 4, head_dim 128), where the WASM backends' integer-domain kernels
 * run by default.
 *
 * Tolerance: max |backend - reference| <= tol * max(1, max |reference|), tol as the backend reports
 * it for the case's cache (`kv.attentionToleranceOf`: AttentionBackend.attentionTolerance; the
 * tiers in ts/backends/types.ts ATTENTION_TOLERANCE): WASM 1e-5 (summation order and f32 exp
 * only) or 5e-3 where its integer kernels run, WebGPU 2e-4 (GPU exp and reduction order). A wrong
 * tile or scale is off by ~1e-1 (the packed cache's own error), so every tier still catches
 * decoding bugs. `tol` in the options overrides the backend's.
 *
 * Returns { results: [{ name, err, tol, pass, ms }], passed, failed }.
 */

/** Same generator everywhere: the cases are bit-identical in every runtime. */
export function seededRandom(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** K/V rows (token-major, nKv * d floats per token); keys get outlier channels like real models. */
export function seededKv(seed, tokens, nKv, d) {
  const rnd = seededRandom(seed);
  const k = new Float32Array(tokens * nKv * d);
  const v = new Float32Array(tokens * nKv * d);
  for (let i = 0; i < k.length; i++) {
    const ch = i % d;
    k[i] = (rnd() * 2 - 1) * (ch % 13 === 5 ? 8 : 1);
    v[i] = rnd() * 2 - 1;
  }
  return { k, v };
}

export const SHAPES = [
  { d: 64, nKv: 2, nHeads: 8, tokens: 100, window: 16, sinks: 0 },
  { d: 40, nKv: 1, nHeads: 1, tokens: 70, window: 0, sinks: 4 },
  { d: 128, nKv: 4, nHeads: 4, tokens: 300, window: 32, sinks: 2 },
];

export function conformanceCases(kv) {
  const plain = kv.listCodecs()
    .filter((c) => !c.needsCalibration && !c.createCache && c.streams.includes('key') && c.streams.includes('value'))
    .map((c) => c.name);
  const cases = [];
  plain.forEach((key, i) => {
    const shape = SHAPES[i % SHAPES.length];
    cases.push({ key, value: plain[(i + 3) % plain.length], ...shape });
  });
  if (plain.includes('kivi2') && plain.includes('kivi4')) {
    cases.push({ key: 'kivi2', value: 'kivi4', d: 128, nKv: 2, nHeads: 8, tokens: 300, window: 16, sinks: 2 });
  }
  return cases;
}

/**
 * `pick`: indices of conformanceCases to run (default all); headless Chromium's WebGPU runs a
 * subset because SwiftShader compiles each pipeline for seconds.
 */
export async function runConformance(kv, backend, { tol: tolOverride, log = () => {}, pick } = {}) {
  const results = [];
  const all = conformanceCases(kv);
  for (const c of pick ? pick.filter((i) => i < all.length).map((i) => all[i]) : all) {
    const name = `${c.key}/${c.value} d${c.d} kv${c.nKv} q${c.nHeads} n${c.tokens}`;
    const t0 = performance.now();
    let tol = tolOverride;
    try {
      const cache = new kv.PackedKvCache({ nKvHeads: c.nKv, headDim: c.d, key: c.key, value: c.value, window: c.window, sinks: c.sinks });
      tol ??= kv.attentionToleranceOf(backend, cache, c.nHeads);
      const seqs = [0, 1];
      const rnd = seededRandom(c.d * 1000 + c.tokens);
      for (const s of seqs) {
        const { k, v } = seededKv(17 + s, c.tokens + 7 * s, c.nKv, c.d);
        cache.append(s, k, v);
      }
      const q = Float32Array.from({ length: seqs.length * c.nHeads * c.d }, () => rnd() * 2 - 1);
      const out = await backend.attend(cache, seqs, q, c.nHeads);
      let err = 0;
      let scale = 1;
      const per = c.nHeads * c.d;
      seqs.forEach((s, i) => {
        const ref = kv.attendReference(cache, s, q.subarray(i * per, (i + 1) * per), c.nHeads);
        for (let j = 0; j < per; j++) {
          err = Math.max(err, Math.abs(out[i * per + j] - ref[j]));
          scale = Math.max(scale, Math.abs(ref[j]));
        }
      });
      const rel = err / scale;
      results.push({ name, err: rel, tol, pass: rel <= tol && out.length === seqs.length * per, ms: Math.round(performance.now() - t0) });
      if (backend.forget) backend.forget(cache);
    } catch (e) {
      results.push({ name, err: NaN, tol, pass: false, ms: Math.round(performance.now() - t0), error: String(e && e.message || e) });
    }
    const r = results[results.length - 1];
    log(`${r.pass ? 'pass' : 'FAIL'} ${r.name.padEnd(40)} err ${Number.isNaN(r.err) ? r.error : r.err.toExponential(2)} (tol ${r.tol})`);
  }
  const passed = results.filter((r) => r.pass).length;
  return { results, passed, failed: results.length - passed };
}
