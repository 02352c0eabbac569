/**
 * The few ONNX protobuf messages a small inference graph needs, written by hand (field numbers
 * from onnx/onnx.proto) so the CPU benchmark builds its onnxruntime peer model in
 * code without a protobuf dependency. Only what bench/cpu/onnx-attention.ts uses is here:
 * ModelProto, GraphProto, NodeProto, AttributeProto (float, int, ints), TensorProto (raw_data),
 * ValueInfoProto with a fixed-shape float tensor type.
 */

/** Protobuf wire encoder: varints, length-delimited fields, fixed32 floats. */
class ProtoWriter {
  private readonly bytes: number[] = [];

  private varint(v: bigint): void {
    // int64 fields: negative values are ten-byte two's complement varints
    let x = v < 0n ? v + (1n << 64n) : v;
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }

  private tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(v));
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(...b);
    return this;
  }

  bytesField(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(data.length));
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]!);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytesField(field, m.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

/** AttributeProto.AttributeType values used here. */
const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7;

export type AttributeValue = { f: number } | { i: number } | { ints: readonly number[] };

export interface OnnxNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator domain; '' = the default ONNX domain. */
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  /** INT64 tensors take bigint-convertible numbers, FLOAT tensors floats. */
  dataType: typeof ONNX_FLOAT | typeof ONNX_INT64;
  values: readonly number[];
}

export interface OnnxValueInfo {
  name: string;
  /** Fixed dims (numbers) or symbolic ones (strings). */
  dims: readonly (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxInitializer[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  /** Default-domain opset version. */
  opset: number;
  /** IR version: 8 covers opsets <= 18, 10 is needed for opset 23 (the Attention operator). */
  irVersion: number;
}

function attribute(name: string, v: AttributeValue): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if ('f' in v) a.float(2, v.f).int(20, ATTR_FLOAT);
  else if ('i' in v) a.int(3, v.i).int(20, ATTR_INT);
  else {
    for (const x of v.ints) a.int(8, x);
    a.int(20, ATTR_INTS);
  }
  return a;
}

function node(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function tensor(t: OnnxInitializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  const raw = t.dataType === ONNX_FLOAT
    ? new Uint8Array(Float32Array.from(t.values).buffer)
    : new Uint8Array(BigInt64Array.from(t.values.map((v) => BigInt(v))).buffer);
  w.bytesField(9, raw);
  return w;
}

function valueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    const dim = typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, ONNX_FLOAT).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

/** Serializes a graph into ModelProto bytes that onnxruntime's InferenceSession.create accepts. */
export function encodeModel(g: OnnxGraph, extraOpsets: Record<string, number> = {}): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, node(n));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensor(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  const model = new ProtoWriter().int(1, g.irVersion).string(2, 'kvpack-bench');
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, '').int(2, g.opset));
  for (const [domain, version] of Object.entries(extraOpsets)) {
    model.message(8, new ProtoWriter().string(1, domain).int(2, version));
  }
  return model.finish();
}
