import { KvpackError } from '../errors.js';
import { ByteReader, ByteWriter, corrupt, leBytes, setFromLe } from './bytes.js';

/**
 * One tagged binary encoding for the plain values codecs keep in their options and calibration
 * objects (numbers, strings, booleans, null, arrays, plain objects, typed arrays), so a saved
 * cache carries any codec's calibration without per-codec code (docs/FORMAT.md, "Values").
 * Numbers are f64 (exact), typed arrays keep their element type, object keys their order.
 */
const T_NULL = 0, T_FALSE = 1, T_TRUE = 2, T_NUMBER = 3, T_STRING = 4, T_ARRAY = 5, T_OBJECT = 6;
const TYPED: readonly [number, { new(n: number): ArrayLike<number> & { BYTES_PER_ELEMENT: number } }][] = [
  [0x10, Float32Array], [0x11, Float64Array], [0x12, Uint32Array], [0x13, Int32Array],
  [0x14, Uint16Array], [0x15, Int16Array], [0x16, Uint8Array], [0x17, Int8Array],
];
/** Nesting bound: calibration objects are a few levels deep; this keeps the decoder's stack small. */
export const MAX_VALUE_DEPTH = 32;

type Typed = Float32Array | Float64Array | Uint32Array | Int32Array | Uint16Array | Int16Array | Uint8Array | Int8Array;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Appends `v`; BAD_PARAM naming the path for what the encoding cannot hold (functions, Maps, cycles...). */
export function writeValue(w: ByteWriter, v: unknown, path: string, depth = 0): void {
  if (depth > MAX_VALUE_DEPTH) throw new KvpackError('BAD_PARAM', `nested deeper than ${MAX_VALUE_DEPTH} levels (or cyclic)`, path);
  if (v === null) { w.u8(T_NULL); return; }
  if (v === false || v === true) { w.u8(v ? T_TRUE : T_FALSE); return; }
  if (typeof v === 'number') { w.u8(T_NUMBER); w.f64(v); return; }
  if (typeof v === 'string') {
    const b = utf8.encode(v);
    w.u8(T_STRING); w.u32(b.length); w.bytes(b);
    return;
  }
  if (Array.isArray(v)) {
    w.u8(T_ARRAY); w.u32(v.length);
    v.forEach((x, i) => writeValue(w, x === undefined ? null : x, `${path}[${i}]`, depth + 1));
    return;
  }
  if (ArrayBuffer.isView(v)) {
    const row = TYPED.find(([, C]) => v.constructor === C);
    if (!row) throw new KvpackError('BAD_PARAM', `${v.constructor.name} cannot be saved (typed arrays of 8-64 bit numbers can)`, path);
    const a = v as Typed;
    w.u8(row[0]); w.u32(a.length); w.bytes(leBytes(a));
    return;
  }
  if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    // undefined members are left out, as JSON does
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    w.u8(T_OBJECT); w.u32(entries.length);
    for (const [k, x] of entries) {
      const kb = utf8.encode(k);
      w.u32(kb.length); w.bytes(kb);
      writeValue(w, x, `${path}.${k}`, depth + 1);
    }
    return;
  }
  throw new KvpackError('BAD_PARAM', `a ${typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v} cannot be saved (plain values only)`, path);
}

function readString(r: ByteReader, field: string): string {
  const n = r.u32(`${field}.length`);
  const b = r.take(n, field);
  try {
    return utf8Strict.decode(b);
  } catch {
    throw corrupt(`${r.where}.${field}`, 'invalid UTF-8');
  }
}

/** Reads one value; every count is checked against the bytes left before anything is allocated. */
export function readValue(r: ByteReader, field: string, depth = 0): unknown {
  if (depth > MAX_VALUE_DEPTH) throw corrupt(`${r.where}.${field}`, `nested deeper than ${MAX_VALUE_DEPTH} levels`);
  const t = r.u8(`${field}.type`);
  switch (t) {
    case T_NULL: return null;
    case T_FALSE: return false;
    case T_TRUE: return true;
    case T_NUMBER: return r.f64(field);
    case T_STRING: return readString(r, field);
    case T_ARRAY: {
      const n = r.u32(`${field}.count`);
      r.need(n, `${field}.count`); // every element takes at least one byte
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, `${field}[${i}]`, depth + 1));
      return out;
    }
    case T_OBJECT: {
      const n = r.u32(`${field}.count`);
      r.need(n * 5, `${field}.count`); // key length + type byte at least
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = readString(r, `${field}.key`);
        if (k === '__proto__' || Object.prototype.hasOwnProperty.call(out, k)) throw corrupt(`${r.where}.${field}.${k}`, 'duplicate or reserved key');
        out[k] = readValue(r, `${field}.${k}`, depth + 1);
      }
      return out;
    }
    default: {
      const row = TYPED.find(([tag]) => tag === t);
      if (!row) throw corrupt(`${r.where}.${field}.type`, `unknown value type 0x${t.toString(16)}`);
      const n = r.u32(`${field}.count`);
      const C = row[1];
      const bytesPer = (C as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      r.need(n * bytesPer, field);
      const a = new C(n) as Typed;
      setFromLe(a, r.take(n * bytesPer, field));
      return a;
    }
  }
}

/** One value as bytes, padded to a multiple of 4. */
export function encodeValue(v: unknown, path: string): Uint8Array {
  const w = new ByteWriter();
  writeValue(w, v, path);
  w.pad4();
  return w.finish();
}
