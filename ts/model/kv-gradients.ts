import { check } from '../errors.js';
import type { Model } from './config.js';

/** A perturbation of one cached element, for checking gradients by finite differences. */
export interface KvNudge {
  layer: number;
  kind: 'key' | 'value';
  /** Element index in [tokens][nKvHeads][headDim]. */
  index: number;
  delta: number;
}

export interface KvGradients {
  /** Summed next-token NLL over the window (nats). */
  loss: number;
  /** Per layer, dLoss/dK (after RoPE) and dLoss/dV, [tokens][nKvHeads][headDim]. */
  layers: { keys: Float64Array; values: Float64Array }[];
}

interface LayerTape {
  xIn: Float64Array; rAtt: Float64Array; h: Float64Array;
  q: Float64Array; k: Float64Array; v: Float64Array; att: Float64Array; o: Float64Array;
  xMid: Float64Array; rFfn: Float64Array; h2: Float64Array; a1: Float64Array; a3: Float64Array;
}

/**
 * Exact gradients of a window's summed next-token NLL with respect to every cached key (after
 * RoPE) and value, by a hand-written backward pass over the same math as ModelRunner (dense,
 * f64, the whole causal window at once). Their squares are the diagonal Fisher information the CQ
 * paper weights its k-means with (Zhang et al. 2024, Sec. 3.3); kvpack has no autograd, so this
 * module is the model's one backward pass. `nudge` adds delta to one cached element (the
 * finite-difference check in tests/model uses it).
 */
export function kvGradients(model: Model, tokens: readonly number[], nudge?: KvNudge): KvGradients {
  const c = model.config, w = model.weights;
  const n = tokens.length, D = c.dim, hd = c.headDim, H = c.nHeads, G = c.nKvHeads, F = c.hiddenDim, V = c.vocabSize;
  const qD = H * hd, kvD = G * hd, group = H / G, scale = 1 / Math.sqrt(hd);
  check(n >= 2 && n <= c.seqLen, 'BAD_PARAM', `window of ${n} tokens must be in [2, seq_len=${c.seqLen}]`, 'tokens');
  for (const t of tokens) check(Number.isInteger(t) && t >= 0 && t < V, 'BAD_PARAM', `token ${t} outside [0, ${V})`, 'tokens');

  const mv = (out: Float64Array, oo: number, W: Float32Array, x: Float64Array, xo: number, rows: number, cols: number): void => {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += W[r * cols + j]! * x[xo + j]!;
      out[oo + r] = s;
    }
  };
  // out += W^T x : the backward of a matVec
  const mtv = (out: Float64Array, oo: number, W: Float32Array, x: Float64Array, xo: number, rows: number, cols: number): void => {
    for (let r = 0; r < rows; r++) {
      const g = x[xo + r]!;
      if (g === 0) continue;
      for (let j = 0; j < cols; j++) out[oo + j] = out[oo + j]! + W[r * cols + j]! * g;
    }
  };
  const norm = (x: Float64Array, gW: Float32Array, out: Float64Array, r: Float64Array): void => {
    for (let p = 0; p < n; p++) {
      let ss = 0;
      for (let i = 0; i < D; i++) ss += x[p * D + i]! ** 2;
      r[p] = 1 / Math.sqrt(ss / D + c.normEps);
      for (let i = 0; i < D; i++) out[p * D + i] = gW[i]! * x[p * D + i]! * r[p]!;
    }
  };
  // y = g x r, r = (mean x^2 + eps)^-1/2  =>  dx = r g dy - r^3 x (sum g dy x) / D
  const normBack = (x: Float64Array, gW: Float32Array, r: Float64Array, dy: Float64Array, dx: Float64Array): void => {
    for (let p = 0; p < n; p++) {
      let dot = 0;
      for (let i = 0; i < D; i++) dot += gW[i]! * dy[p * D + i]! * x[p * D + i]!;
      const rp = r[p]!, k = (rp * rp * rp * dot) / D;
      for (let i = 0; i < D; i++) dx[p * D + i] = dx[p * D + i]! + rp * gW[i]! * dy[p * D + i]! - k * x[p * D + i]!;
    }
  };
  const cos = new Float64Array(n * hd / 2), sin = new Float64Array(n * hd / 2);
  for (let p = 0; p < n; p++) for (let j = 0; j < hd / 2; j++) {
    const a = p * Math.pow(c.ropeTheta, -(2 * j) / hd);
    cos[p * hd / 2 + j] = Math.cos(a);
    sin[p * hd / 2 + j] = Math.sin(a);
  }
  // rotate rows of width `width` by +angle (dir 1) or its transpose, -angle (dir -1)
  const rope = (x: Float64Array, width: number, dir: 1 | -1): void => {
    for (let p = 0; p < n; p++) for (let o = 0; o < width; o += hd) for (let j = 0; j < hd / 2; j++) {
      const i = p * width + o + 2 * j, cs = cos[p * hd / 2 + j]!, sn = dir * sin[p * hd / 2 + j]!;
      const a = x[i]!, b = x[i + 1]!;
      x[i] = a * cs - b * sn;
      x[i + 1] = a * sn + b * cs;
    }
  };

  // ---- forward, keeping what the backward needs
  let x = new Float64Array(n * D);
  tokens.forEach((t, p) => { for (let i = 0; i < D; i++) x[p * D + i] = w.tokenEmbedding[t * D + i]!; });
  const tape: LayerTape[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const lw = w.layers[l]!;
    const T: LayerTape = {
      xIn: x, rAtt: new Float64Array(n), h: new Float64Array(n * D), q: new Float64Array(n * qD), k: new Float64Array(n * kvD),
      v: new Float64Array(n * kvD), att: new Float64Array(H * n * n), o: new Float64Array(n * qD), xMid: new Float64Array(n * D),
      rFfn: new Float64Array(n), h2: new Float64Array(n * D), a1: new Float64Array(n * F), a3: new Float64Array(n * F),
    };
    norm(x, lw.rmsAtt, T.h, T.rAtt);
    for (let p = 0; p < n; p++) {
      mv(T.q, p * qD, lw.wq, T.h, p * D, qD, D);
      mv(T.k, p * kvD, lw.wk, T.h, p * D, kvD, D);
      mv(T.v, p * kvD, lw.wv, T.h, p * D, kvD, D);
    }
    rope(T.q, qD, 1);
    rope(T.k, kvD, 1);
    if (nudge && nudge.layer === l) { const arr = nudge.kind === 'key' ? T.k : T.v; arr[nudge.index] = arr[nudge.index]! + nudge.delta; }
    for (let hq = 0; hq < H; hq++) {
      const g = Math.floor(hq / group);
      for (let p = 0; p < n; p++) {
        const row = (hq * n + p) * n;
        let m = -Infinity;
        for (let t = 0; t <= p; t++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += T.q[p * qD + hq * hd + i]! * T.k[t * kvD + g * hd + i]!;
          T.att[row + t] = s * scale;
          if (s * scale > m) m = s * scale;
        }
        let z = 0;
        for (let t = 0; t <= p; t++) z += (T.att[row + t] = Math.exp(T.att[row + t]! - m));
        for (let t = 0; t <= p; t++) {
          const a = (T.att[row + t] = T.att[row + t]! / z);
          for (let i = 0; i < hd; i++) T.o[p * qD + hq * hd + i] = T.o[p * qD + hq * hd + i]! + a * T.v[t * kvD + g * hd + i]!;
        }
      }
    }
    const proj = new Float64Array(D);
    for (let p = 0; p < n; p++) {
      mv(proj, 0, lw.wo, T.o, p * qD, D, qD);
      for (let i = 0; i < D; i++) T.xMid[p * D + i] = x[p * D + i]! + proj[i]!;
    }
    norm(T.xMid, lw.rmsFfn, T.h2, T.rFfn);
    const xOut = new Float64Array(n * D), u = new Float64Array(F);
    for (let p = 0; p < n; p++) {
      mv(T.a1, p * F, lw.w1, T.h2, p * D, F, D);
      mv(T.a3, p * F, lw.w3, T.h2, p * D, F, D);
      for (let i = 0; i < F; i++) { const a = T.a1[p * F + i]!; u[i] = (a / (1 + Math.exp(-a))) * T.a3[p * F + i]!; }
      mv(proj, 0, lw.w2, u, 0, D, F);
      for (let i = 0; i < D; i++) xOut[p * D + i] = T.xMid[p * D + i]! + proj[i]!;
    }
    tape.push(T);
    x = xOut;
  }
  const rF = new Float64Array(n), hf = new Float64Array(n * D);
  norm(x, w.rmsFinal, hf, rF);
  // loss and dLoss/dlogits = softmax - onehot(next token), for positions 0..n-2
  let loss = 0;
  const dhf = new Float64Array(n * D), logits = new Float64Array(V);
  for (let p = 0; p < n - 1; p++) {
    mv(logits, 0, w.classifier, hf, p * D, V, D);
    let m = -Infinity;
    for (let i = 0; i < V; i++) if (logits[i]! > m) m = logits[i]!;
    let z = 0;
    for (let i = 0; i < V; i++) z += Math.exp(logits[i]! - m);
    const target = tokens[p + 1]!;
    loss -= logits[target]! - m - Math.log(z);
    for (let i = 0; i < V; i++) logits[i] = Math.exp(logits[i]! - m) / z - (i === target ? 1 : 0);
    mtv(dhf, p * D, w.classifier, logits, 0, V, D);
  }
  let dx = new Float64Array(n * D);
  normBack(x, w.rmsFinal, rF, dhf, dx);

  // ---- backward through the layers
  const grads: KvGradients['layers'] = new Array(c.nLayers);
  for (let l = c.nLayers - 1; l >= 0; l--) {
    const lw = w.layers[l]!, T = tape[l]!;
    const dMid = Float64Array.from(dx); // residual
    const dh2 = new Float64Array(n * D), du = new Float64Array(F), da1 = new Float64Array(F), da3 = new Float64Array(F);
    for (let p = 0; p < n; p++) {
      du.fill(0);
      mtv(du, 0, lw.w2, dx, p * D, D, F);
      for (let i = 0; i < F; i++) {
        const a = T.a1[p * F + i]!, sg = 1 / (1 + Math.exp(-a));
        da3[i] = du[i]! * a * sg;
        da1[i] = du[i]! * T.a3[p * F + i]! * sg * (1 + a * (1 - sg)); // d silu(a)/da = s (1 + a (1 - s))
      }
      mtv(dh2, p * D, lw.w1, da1, 0, F, D);
      mtv(dh2, p * D, lw.w3, da3, 0, F, D);
    }
    normBack(T.xMid, lw.rmsFfn, T.rFfn, dh2, dMid);
    const dO = new Float64Array(n * qD);
    for (let p = 0; p < n; p++) mtv(dO, p * qD, lw.wo, dMid, p * D, D, qD);
    const dq = new Float64Array(n * qD), dk = new Float64Array(n * kvD), dv = new Float64Array(n * kvD);
    const dA = new Float64Array(n);
    for (let hq = 0; hq < H; hq++) {
      const g = Math.floor(hq / group);
      for (let p = 0; p < n; p++) {
        const row = (hq * n + p) * n;
        let sum = 0;
        for (let t = 0; t <= p; t++) {
          const a = T.att[row + t]!;
          let d = 0;
          for (let i = 0; i < hd; i++) {
            const go = dO[p * qD + hq * hd + i]!;
            d += go * T.v[t * kvD + g * hd + i]!;
            dv[t * kvD + g * hd + i] = dv[t * kvD + g * hd + i]! + a * go;
          }
          dA[t] = d;
          sum += a * d;
        }
        for (let t = 0; t <= p; t++) {
          const ds = T.att[row + t]! * (dA[t]! - sum) * scale; // softmax backward, then the 1/sqrt(d)
          for (let i = 0; i < hd; i++) {
            dq[p * qD + hq * hd + i] = dq[p * qD + hq * hd + i]! + ds * T.k[t * kvD + g * hd + i]!;
            dk[t * kvD + g * hd + i] = dk[t * kvD + g * hd + i]! + ds * T.q[p * qD + hq * hd + i]!;
          }
        }
      }
    }
    grads[l] = { keys: Float64Array.from(dk), values: Float64Array.from(dv) };
    rope(dq, qD, -1); // a rotation's transpose rotates back
    rope(dk, kvD, -1);
    const dh = new Float64Array(n * D);
    for (let p = 0; p < n; p++) {
      mtv(dh, p * D, lw.wq, dq, p * qD, qD, D);
      mtv(dh, p * D, lw.wk, dk, p * kvD, kvD, D);
      mtv(dh, p * D, lw.wv, dv, p * kvD, kvD, D);
    }
    normBack(T.xIn, lw.rmsAtt, T.rAtt, dh, dMid);
    dx = dMid;
  }
  return { loss, layers: grads };
}
