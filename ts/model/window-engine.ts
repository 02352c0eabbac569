import { loadKvpackWasm, wasmSimdSupported, type KvpackWasm } from '../backends/wasm-loader.js';
import { check, KvpackError } from '../errors.js';
import { gemmNT } from './gemm.js';

/** gemmNT's signature (gemm.ts): C (=|+=) scale * A B^T over row-major f32 rows. */
export type Gemm = typeof gemmNT;

/**
 * Where whole-window evaluation keeps its arrays and multiplies them: the TS loops (gemm.ts) on
 * ordinary Float32Arrays, or the WASM SIMD kernel (assembly/gemm.ts) on views into the module's
 * memory. `arrays` hands out every buffer of one window shape at once, because growing WASM
 * memory detaches earlier views; the previous set is released and must not be used after.
 */
export interface WindowEngine {
  readonly name: string;
  arrays(lengths: readonly number[]): Float32Array[];
  /** Attention products (scores, weighted values): f32 rounding is fine there. */
  readonly gemm: Gemm;
  /** Floats a prepared weight matrix of `n` elements takes in `arrays` (the WASM engine widens to f64). */
  weightLength(n: number): number;
  /** Copies weight matrix `w` ([rows][cols]) into `into` (weightLength floats) in the layout `dense` reads. */
  prepareWeight(w: Float32Array, rows: number, cols: number, into: Float32Array): void;
  /**
   * out[m][n] = sum_k x[m][k] W[n][k] for a prepared W, bit for bit as matVec (math.ts): the
   * projections that make keys and values must not move a value across a codec's rounding
   * boundary (docs/decisions.md).
   */
  dense(out: Float32Array, x: Float32Array, w: Float32Array, m: number, n: number, k: number): void;
  /**
   * Causal softmax in place of `rows` score rows of stride n: row r over keys 0..p0 + r, later
   * keys set to 0 (f32 weights; the engines round exp differently, by an ulp of f32).
   */
  softmaxCausal(scores: Float32Array, n: number, rows: number, p0: number): void;
}

function softmaxCausalTs(scores: Float32Array, n: number, rows: number, p0: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * n, last = p0 + r; // causal: keys 0..last
    let m = -Infinity;
    for (let t = 0; t <= last; t++) if (scores[o + t]! > m) m = scores[o + t]!;
    let sum = 0;
    for (let t = 0; t <= last; t++) {
      const e = Math.exp(scores[o + t]! - m);
      scores[o + t] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let t = 0; t <= last; t++) scores[o + t] = scores[o + t]! * inv;
    for (let t = last + 1; t < n; t++) scores[o + t] = 0;
  }
}

export const tsWindowEngine: WindowEngine = {
  name: 'ts',
  arrays: (lengths) => lengths.map((n) => new Float32Array(n)),
  gemm: gemmNT,
  weightLength: (n) => n,
  prepareWeight: (w, _rows, _cols, into) => into.set(w),
  softmaxCausal: softmaxCausalTs,
  dense: (out, x, w, m, n, k) => gemmNT(out, 0, n, x, 0, k, w, 0, k, m, n, k),
};

/** The WASM engine over a fresh instance of kvpack.wasm (its own memory). */
export async function wasmWindowEngine(): Promise<WindowEngine> {
  return new WasmWindowEngine(await loadKvpackWasm());
}

let defaultEngine: Promise<WindowEngine> | undefined;

/**
 * The engine evaluatePerplexity uses unless told: WASM where the runtime has SIMD (one instance
 * per process, kept), else TS.
 */
export function defaultWindowEngine(): Promise<WindowEngine> {
  defaultEngine ??= wasmSimdSupported() ? wasmWindowEngine().catch(() => tsWindowEngine) : Promise.resolve(tsWindowEngine);
  return defaultEngine;
}

/** gemm_nn_f64w's block of A rows widened to f64x2 splats: 32 rows at k = 1024, within L2. */
const SCRATCH_BYTES = 512 * 1024;

class WasmWindowEngine implements WindowEngine {
  readonly name: string;
  readonly gemm: Gemm;
  readonly dense: WindowEngine['dense'];
  readonly softmaxCausal: WindowEngine['softmaxCausal'];
  private block: number | undefined;
  private scratch = 0;

  constructor(private readonly wasm: KvpackWasm) {
    this.name = `wasm (${wasm.build})`;
    const f = wasm.fn('gemm_nt');
    const mem = wasm.memory;
    this.gemm = (c, cOff, ldc, a, aOff, lda, b, bOff, ldb, m, n, k, accumulate = false, scale = 1) => {
      for (const [arr, name] of [[c, 'c'], [a, 'a'], [b, 'b']] as const) {
        check(arr.buffer === mem.buffer, 'BAD_PARAM', 'the WASM gemm reads arrays from its engine\'s arrays() only', name);
      }
      f(c.byteOffset + 4 * cOff, ldc, a.byteOffset + 4 * aOff, lda, b.byteOffset + 4 * bOff, ldb, m, n, k, accumulate ? 1 : 0, scale);
    };
    const f64 = wasm.fn('gemm_nn_f64w');
    this.dense = (out, x, w, m, n, k) => {
      for (const [arr, name] of [[out, 'out'], [x, 'x'], [w, 'w']] as const) {
        check(arr.buffer === mem.buffer, 'BAD_PARAM', 'the WASM gemm reads arrays from its engine\'s arrays() only', name);
      }
      check(this.block !== undefined, 'BAD_PARAM', 'dense before arrays()', 'out');
      f64(out.byteOffset, n, x.byteOffset, k, w.byteOffset, n, m, n, k, 1, this.scratch, SCRATCH_BYTES);
    };
    const sm = wasm.fn('softmax_causal');
    this.softmaxCausal = (scores, n, rows, p0) => {
      check(scores.buffer === mem.buffer, 'BAD_PARAM', 'the WASM softmax reads arrays from its engine\'s arrays() only', 'scores');
      sm(scores.byteOffset, n, rows, p0);
    };
  }

  /** f64, so the kernel widens no weight per product: two floats of arrays() per element. */
  weightLength(n: number): number {
    return 2 * n;
  }

  /**
   * Widened to f64 (exact, so the products are the same) and packed as gemm_nn_f64w reads it:
   * panels of 8 outputs, [cols][8] each, then the outputs past the last multiple of 8 one
   * [cols] column each (every k step of the kernel reads the next 64 bytes).
   */
  prepareWeight(w: Float32Array, rows: number, cols: number, into: Float32Array): void {
    const o = new Float64Array(into.buffer, into.byteOffset, rows * cols), r8 = rows & ~7;
    for (let r = 0; r < rows; r++) {
      const base = r < r8 ? (r & ~7) * cols : r * cols, lane = r < r8 ? r & 7 : 0, step = r < r8 ? 8 : 1;
      for (let c = 0; c < cols; c++) o[base + c * step + lane] = w[r * cols + c]!;
    }
  }

  arrays(lengths: readonly number[]): Float32Array[] {
    if (this.block !== undefined) this.wasm.arena.release(this.block);
    this.block = undefined;
    const padded = lengths.map((n) => Math.ceil(n / 4) * 4); // 16-byte aligned starts
    const total = padded.reduce((s, n) => s + n, 0) * 4;
    if (total > 3.5 * 2 ** 30) throw new KvpackError('BAD_PARAM', `window needs ${total} bytes of WASM memory`, 'ctx');
    this.block = this.wasm.arena.alloc(total + SCRATCH_BYTES);
    this.scratch = this.block + total;
    const buf = this.wasm.memory.buffer;
    let at = this.block;
    return lengths.map((n, i) => {
      const v = new Float32Array(buf, at, n);
      at += padded[i]! * 4;
      return v;
    });
  }
}
