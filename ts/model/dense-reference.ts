import type { Model } from './config.js';

/**
 * An independent, deliberately plain forward pass: number[] arrays, the whole causal attention
 * matrix with an ordinary (two-pass) softmax, RoPE written as llama2.c's loop over the full
 * query/key vectors, no cache and no kvpack code. It exists to check ModelRunner with the fp32
 * cache (tests/model). Returns logits [position][vocab] for every prefix of `tokens`.
 */
export function denseForward(model: Model, tokens: readonly number[]): number[][] {
  const c = model.config, w = model.weights;
  const n = tokens.length, dim = c.dim, hs = c.headDim;
  const qDim = c.nHeads * hs, kvDim = c.nKvHeads * hs, kvMul = c.nHeads / c.nKvHeads;
  const lin = (W: Float32Array, x: number[], rows: number, cols: number): number[] => {
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += W[r * cols + j]! * x[j]!;
      out.push(s);
    }
    return out;
  };
  const norm = (x: number[], g: Float32Array): number[] => {
    const ms = x.reduce((a, b) => a + b * b, 0) / x.length;
    return x.map((xi, i) => (g[i]! * xi) / Math.sqrt(ms + c.normEps));
  };
  const rope = (vec: number[], pos: number): void => {
    for (let i = 0; i < vec.length; i += 2) {
      const freq = 1 / Math.pow(c.ropeTheta, (i % hs) / hs);
      const a = pos * freq;
      const [v0, v1] = [vec[i]!, vec[i + 1]!];
      vec[i] = v0 * Math.cos(a) - v1 * Math.sin(a);
      vec[i + 1] = v0 * Math.sin(a) + v1 * Math.cos(a);
    }
  };
  let X: number[][] = tokens.map((t) => Array.from(w.tokenEmbedding.subarray(t * dim, (t + 1) * dim)));
  for (const lw of w.layers) {
    const H = X.map((x) => norm(x, lw.rmsAtt));
    const Q = H.map((h, p) => { const q = lin(lw.wq, h, qDim, dim); rope(q, p); return q; });
    const K = H.map((h, p) => { const k = lin(lw.wk, h, kvDim, dim); rope(k, p); return k; });
    const V = H.map((h) => lin(lw.wv, h, kvDim, dim));
    X = X.map((x, p) => {
      const att: number[] = new Array(qDim).fill(0);
      for (let h = 0; h < c.nHeads; h++) {
        const g = Math.floor(h / kvMul);
        const scores: number[] = [];
        for (let t = 0; t <= p; t++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += Q[p]![h * hs + i]! * K[t]![g * hs + i]!;
          scores.push(s / Math.sqrt(hs));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t <= p; t++) for (let i = 0; i < hs; i++) att[h * hs + i] = att[h * hs + i]! + (e[t]! / z) * V[t]![g * hs + i]!;
      }
      const o = lin(lw.wo, att, dim, qDim);
      const x1 = x.map((xi, i) => xi + o[i]!);
      const h2 = norm(x1, lw.rmsFfn);
      const a = lin(lw.w1, h2, c.hiddenDim, dim), b = lin(lw.w3, h2, c.hiddenDim, dim);
      const f = lin(lw.w2, a.map((ai, i) => (ai / (1 + Math.exp(-ai))) * b[i]!), dim, c.hiddenDim);
      return x1.map((xi, i) => xi + f[i]!);
    });
  }
  return X.map((x) => lin(w.classifier, norm(x, w.rmsFinal), c.vocabSize, dim));
}
