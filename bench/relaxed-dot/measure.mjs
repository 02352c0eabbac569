// Runs in Node, Deno, Bun and a Chromium page (bench/relaxed-dot.mjs): instantiates the module the
// driver built and times its loops. Wall time (performance.now; a page has no CPU clock), best of
// `rounds` interleaved rounds, each call `iters` iterations x 8 independent instructions.
const KERNELS = ['dot16', 'relaxed'];

function check(e) {
  // relaxed vs its base-SIMD reference (relaxedRef) over 3 iterations: equal where the engine
  // lowers the instruction correctly (its i7 operand is in 0..127, so every lowering must agree)
  const got = e.relaxed(3), want = e.relaxedRef(3);
  return { got, want, ok: got === want };
}

export async function measure(bytes, iters, rounds) {
  const out = { valid: WebAssembly.validate(bytes) };
  if (!out.valid) return out;
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const e = instance.exports;
  out.checkFirstCall = check(e);
  // warm-up: enough calls for the engines' optimizing tier to replace the baseline code (V8 has
  // no on-stack replacement for WebAssembly: a call finishes in the tier it started in)
  for (let i = 0; i < 30; i++) for (const k of KERNELS) e[k](iters / 30);
  e.relaxedRef(iters / 30);
  const best = Object.fromEntries(KERNELS.map((k) => [k, Infinity]));
  for (let r = 0; r < rounds; r++) {
    for (const k of KERNELS) {
      const t0 = performance.now();
      e[k](iters);
      best[k] = Math.min(best[k], performance.now() - t0);
    }
  }
  out.checkAfter = check(e);
  // ns per instruction (8 per iteration); multiply-adds per instruction: dot_i16x8_s 8, relaxed 16
  out.nsPerDot16 = (best.dot16 * 1e6) / (iters * 8);
  out.nsPerRelaxed = (best.relaxed * 1e6) / (iters * 8);
  out.macPerNsDot16 = 8 / out.nsPerDot16;
  out.macPerNsRelaxed = 16 / out.nsPerRelaxed;
  out.relaxedOverDot16 = out.macPerNsRelaxed / out.macPerNsDot16;
  return out;
}
