/** Small dense kernels of the forward pass (f32 storage, f64 accumulation). */

/** out[r] = sum_c W[r][c] x[c]; W row-major [rows][cols]. */
export function matVec(out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += w[o + c]! * x[c]!;
    out[r] = acc;
  }
}

/** llama2.c rmsnorm: out = weight * x / sqrt(mean(x^2) + eps). */
export function rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, eps: number): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = weight[i]! * (inv * x[i]!);
}

/**
 * RoPE tables for one position: pair j of a head (channels 2j, 2j+1) rotates by
 * pos * theta^(-2j/headDim), as llama2.c run.c (consecutive pairs, not the half-split of HF).
 */
export function ropeAngles(pos: number, headDim: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = headDim / 2;
  const cos = new Float64Array(half), sin = new Float64Array(half);
  for (let j = 0; j < half; j++) {
    const a = pos * Math.pow(theta, -(2 * j) / headDim);
    cos[j] = Math.cos(a);
    sin[j] = Math.sin(a);
  }
  return { cos, sin };
}

/** Rotates every head of x ([heads][headDim]) in place. */
export function applyRope(x: Float32Array, headDim: number, cos: Float64Array, sin: Float64Array): void {
  for (let o = 0; o < x.length; o += headDim) {
    for (let j = 0; j < headDim / 2; j++) {
      const a = x[o + 2 * j]!, b = x[o + 2 * j + 1]!;
      x[o + 2 * j] = a * cos[j]! - b * sin[j]!;
      x[o + 2 * j + 1] = a * sin[j]! + b * cos[j]!;
    }
  }
}

/** Natural-log softmax probability of `target` from logits (max-shifted, f64). */
export function logProb(logits: ArrayLike<number>, target: number): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i]! - m);
  return logits[target]! - m - Math.log(s);
}
