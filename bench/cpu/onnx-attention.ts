/**
 * onnxruntime-node peer for the CPU benchmark: one decode-attention step over an fp32 cache, the
 * way a user without kvpack would run it on CPU. Inputs q [nHeads,1,d], K and V [nKvHeads,T,d]
 * (the cache as one contiguous tensor per stream); output [nHeads,1,d].
 *
 * Two graphs, both timed; the faster one is the peer (we compare against onnxruntime at its best):
 *  - 'matmul': Reshape q to [nKvHeads, group, d] (GQA: the query heads of one KV head share its
 *    K/V without copying them), MatMul with K^T (onnxruntime fuses the Transpose into the MatMul),
 *    Mul by 1/sqrt(d), Softmax, MatMul with V, Reshape back.
 *  - 'attention': the ONNX Attention operator (opset 23) with 4-D inputs [1, heads, seq, d];
 *    GQA from q heads != kv heads. Absent on runtimes without opset 23 (then only 'matmul').
 */
import { encodeModel, ONNX_FLOAT, ONNX_INT64, type OnnxGraph } from './onnx-proto.js';

export type OnnxAttentionGraph = 'matmul' | 'attention';

export interface OnnxAttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  tokens: number;
}

export function attentionGraph(kind: OnnxAttentionGraph, s: OnnxAttentionShape): OnnxGraph {
  const { nHeads, nKvHeads, headDim: d, tokens: T } = s;
  if (nHeads % nKvHeads !== 0) throw new Error(`nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const group = nHeads / nKvHeads;
  const io = {
    inputs: [
      { name: 'q', dims: [nHeads, 1, d] },
      { name: 'k', dims: [nKvHeads, T, d] },
      { name: 'v', dims: [nKvHeads, T, d] },
    ],
    outputs: [{ name: 'out', dims: [nHeads, 1, d] }],
  };
  if (kind === 'attention') {
    return {
      name: 'decode_attention_op', opset: 23, irVersion: 10, ...io,
      initializers: [
        { name: 'q4shape', dims: [4], dataType: ONNX_INT64, values: [1, nHeads, 1, d] },
        { name: 'kv4shape', dims: [4], dataType: ONNX_INT64, values: [1, nKvHeads, T, d] },
        { name: 'outShape', dims: [3], dataType: ONNX_INT64, values: [nHeads, 1, d] },
      ],
      nodes: [
        { op: 'Reshape', inputs: ['q', 'q4shape'], outputs: ['q4'] },
        { op: 'Reshape', inputs: ['k', 'kv4shape'], outputs: ['k4'] },
        { op: 'Reshape', inputs: ['v', 'kv4shape'], outputs: ['v4'] },
        { op: 'Attention', inputs: ['q4', 'k4', 'v4'], outputs: ['o4'], attributes: { scale: { f: 1 / Math.sqrt(d) } } },
        { op: 'Reshape', inputs: ['o4', 'outShape'], outputs: ['out'] },
      ],
    };
  }
  return {
    name: 'decode_attention_matmul', opset: 17, irVersion: 8, ...io,
    initializers: [
      { name: 'qShape', dims: [3], dataType: ONNX_INT64, values: [nKvHeads, group, d] },
      { name: 'outShape', dims: [3], dataType: ONNX_INT64, values: [nHeads, 1, d] },
      { name: 'scale', dims: [], dataType: ONNX_FLOAT, values: [1 / Math.sqrt(d)] },
    ],
    nodes: [
      { op: 'Reshape', inputs: ['q', 'qShape'], outputs: ['qg'] },
      { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm: { ints: [0, 2, 1] } } },
      { op: 'MatMul', inputs: ['qg', 'kt'], outputs: ['scores'] },
      { op: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
      { op: 'Softmax', inputs: ['scaled'], outputs: ['probs'], attributes: { axis: { i: -1 } } },
      { op: 'MatMul', inputs: ['probs', 'v'], outputs: ['og'] },
      { op: 'Reshape', inputs: ['og', 'outShape'], outputs: ['out'] },
    ],
  };
}

export function attentionModelBytes(kind: OnnxAttentionGraph, s: OnnxAttentionShape): Uint8Array {
  return encodeModel(attentionGraph(kind, s));
}

/** The subset of onnxruntime-node's API used here (kept structural so the bench typechecks alone). */
interface OrtTensor { data: unknown }
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, opts?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env: { versions?: Record<string, string> };
}

/** One onnxruntime session for one shape, with its input tensors bound to caller-owned arrays. */
export class OnnxAttention {
  private constructor(
    readonly kind: OnnxAttentionGraph,
    readonly shape: OnnxAttentionShape,
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    private readonly feeds: Record<string, unknown>,
    private readonly q: Float32Array,
  ) {}

  /**
   * K, V: [nKvHeads][T][d] (onnxruntime reads these arrays in place: no copy per step).
   * threads: intra-op threads (0 = onnxruntime's default: one per physical core).
   */
  static async create(ort: OrtModule, kind: OnnxAttentionGraph, shape: OnnxAttentionShape,
    K: Float32Array, V: Float32Array, threads = 0): Promise<OnnxAttention> {
    const { nHeads, nKvHeads, headDim: d, tokens: T } = shape;
    if (K.length !== nKvHeads * T * d || V.length !== K.length) throw new Error('K/V length does not match the shape');
    const session = await ort.InferenceSession.create(attentionModelBytes(kind, shape), {
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      // Pool threads would otherwise spin after each run and steal the core from whatever the
      // benchmark times next (it alternates onnxruntime and WASM runs).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    const q = new Float32Array(nHeads * d);
    const feeds = {
      q: new ort.Tensor('float32', q, [nHeads, 1, d]),
      k: new ort.Tensor('float32', K, [nKvHeads, T, d]),
      v: new ort.Tensor('float32', V, [nKvHeads, T, d]),
    };
    return new OnnxAttention(kind, shape, ort, session, feeds, q);
  }

  /** One decode step for query q [nHeads][d]; returns [nHeads][d]. */
  async step(q: Float32Array): Promise<Float32Array> {
    this.q.set(q);
    const r = await this.session.run(this.feeds);
    return r.out!.data as Float32Array;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Layout change for the peer: [T][nKvHeads][d] (PackedKvCache order) -> [nKvHeads][T][d]. */
export function headMajor(x: Float32Array, nKvHeads: number, d: number): Float32Array {
  const T = x.length / (nKvHeads * d);
  const out = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    for (let g = 0; g < nKvHeads; g++) {
      out.set(x.subarray((t * nKvHeads + g) * d, (t * nKvHeads + g + 1) * d), (g * T + t) * d);
    }
  }
  return out;
}
