import type { PackedKvCache, TileEncoderSource } from '../cache/kv-cache.js';
import { check } from '../errors.js';
import { typeName } from '../util/args.js';
import { checkToleranceArgs } from './validate.js';

export type BackendName = 'webgpu' | 'wasm' | 'ts';

/**
 * How close a backend's attention is held to `attendReference` (ts/reference/attention.ts) over
 * the same packed cache: max |out - ref| <= tol x max(1, max |ref|) per batch, the measure of the
 * conformance matrix (ts/conformance/matrix.ts) and of the runtime checks (tests/runtimes/
 * conformance.mjs). A backend reports the tier of each cache and head count
 * (AttentionBackend.attentionTolerance) and every check takes it from there.
 */
export const ATTENTION_TOLERANCE = {
  /** The TS backend is the reference itself. */
  reference: 0,
  /**
   * Float kernels over the same tile words (WASM, the threads' merge): only the order of f32 sums
   * and the f32 exp differ (observed <= 2.3e-6).
   */
  exact: 1e-5,
  /** WebGPU's float kernels: GPU exp and the split merge (observed ~3e-7 on llvmpipe, lavapipe). */
  gpu: 2e-4,
  /**
   * Integer-domain KIVI kernels (WasmBackendOptions.integerAttention, the CPU default for GQA
   * groups; docs/decisions.md#D43): the folded query and the weighted value scales rounded to i16
   * per head and tile, i.e. logits off by up to ~sqrt(d) x code range x its step / 2, where the
   * step is set by the largest (outlier) channel. Observed in this measure at most 1.5e-3
   * (docs/decisions.md#D43: the matrix's KIVI GQA cells, the integer test's cases over three
   * seeds, 8K contexts, groups up to 16), ~3x below the tier; D52's test bound was 5e-3 x max|V|.
   * A wrong code, group or scale is off by ~1e-1 (the codes' own error), a wrong head by ~1.
   */
  integer: 5e-3,
} as const;

/**
 * Decode attention over a packed cache. Every backend must match `attendReference`
 * (ts/reference/attention.ts) within the tier it reports (ATTENTION_TOLERANCE).
 */
export interface AttentionBackend {
  readonly name: BackendName;
  /** Human-readable description (adapter name, SIMD, ...), printed by the detector and benches. */
  readonly description: string;
  /**
   * One decode query per sequence. q: [seqs.length][nHeads][headDim]; returns the same shape.
   * Throws KvpackError (BAD_SHAPE, NON_FINITE, UNKNOWN_SEQUENCE) before doing any work.
   */
  attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array>;
  /** Release GPU buffers / WASM memory. */
  dispose(): void;
  /**
   * The relative bound (ATTENTION_TOLERANCE) this backend's attend holds to attendReference over
   * `cache` with `nHeads` query heads: its kernels and options decide (WASM's integer kernels run
   * for KIVI GQA groups only). Optional for other implementations: attentionToleranceOf.
   */
  attentionTolerance?(cache: PackedKvCache, nHeads: number): number;
}

/**
 * The tolerance `backend` reports for `cache` and `nHeads` (AttentionBackend.attentionTolerance),
 * else the tier of its kind: 0 for the TS reference, `exact` for WASM, `gpu` for WebGPU.
 */
export function attentionToleranceOf(backend: AttentionBackend, cache: PackedKvCache, nHeads: number): number {
  const b = backend as Partial<AttentionBackend> | null;
  check(b !== null && typeof b === 'object' && typeof b.attend === 'function', 'BAD_PARAM', `must be an AttentionBackend, got ${typeName(backend)}`, 'backend');
  checkToleranceArgs(cache, nHeads);
  if (typeof backend.attentionTolerance === 'function') return backend.attentionTolerance(cache, nHeads);
  return backend.name === 'ts' ? ATTENTION_TOLERANCE.reference : backend.name === 'webgpu' ? ATTENTION_TOLERANCE.gpu : ATTENTION_TOLERANCE.exact;
}

/**
 * The backend's tile encoders, when it has faster ones than the TS reference writing the same
 * words (the WASM backend: `fastEncoder`), for `PackedKvCache`'s `encodeWith`; else undefined.
 */
export function encodersOf(backend: AttentionBackend): TileEncoderSource | undefined {
  return 'fastEncoder' in backend ? backend as unknown as TileEncoderSource : undefined;
}
