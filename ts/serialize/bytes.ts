import { KvpackError } from '../errors.js';
import { crc32c } from './crc32c.js';

/** Typed arrays alias the host's byte order; the saved format is little-endian (docs/FORMAT.md). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function corrupt(field: string, message: string): KvpackError {
  return new KvpackError('CORRUPT_DATA', message, field);
}

/** Four ASCII characters as the u32 a section header stores (first character in the low byte). */
export function tagOf(s: string): number {
  return (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
}

export function tagName(tag: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = (tag >>> (8 * i)) & 0xff;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** The little-endian bytes of a typed array (a view where the host is little-endian, else a swapped copy). */
export function leBytes(a: Uint32Array | Float32Array | Float64Array | Int32Array | Uint16Array | Int16Array | Uint8Array | Int8Array): Uint8Array {
  const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (HOST_LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(view.length), n = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += n) for (let j = 0; j < n; j++) out[i + j] = view[i + n - 1 - j]!;
  return out;
}

/** Copies little-endian bytes into `dst` (whose byteLength must equal src.length). */
export function setFromLe(dst: Uint32Array | Float32Array | Float64Array | Int32Array | Uint16Array | Int16Array | Uint8Array | Int8Array, src: Uint8Array): void {
  const view = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  view.set(src);
  if (HOST_LITTLE_ENDIAN || dst.BYTES_PER_ELEMENT === 1) return;
  const n = dst.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += n) view.subarray(i, i + n).reverse();
}

/** A growable little-endian writer for header payloads (small; pages are written as views). */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
    this.dv = new DataView(grown.buffer);
  }

  u8(v: number): void { this.reserve(1); this.buf[this.length++] = v; }
  u32(v: number): void { this.reserve(4); this.dv.setUint32(this.length, v, true); this.length += 4; }
  f64(v: number): void { this.reserve(8); this.dv.setFloat64(this.length, v, true); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  /** Zero bytes up to the next multiple of 4. */
  pad4(): void { while (this.length % 4) this.u8(0); }
  finish(): Uint8Array { return this.buf.slice(0, this.length); }
}

/** A bounds-checked little-endian reader over one section payload; every failure names the field. */
export class ByteReader {
  private readonly dv: DataView;
  offset = 0;
  constructor(readonly bytes: Uint8Array, readonly where: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number { return this.bytes.length - this.offset; }

  need(n: number, field: string): void {
    if (n > this.remaining) throw corrupt(`${this.where}.${field}`, `needs ${n} bytes, ${this.remaining} left in the section`);
  }

  u8(field: string): number { this.need(1, field); return this.bytes[this.offset++]!; }
  u32(field: string): number { this.need(4, field); const v = this.dv.getUint32(this.offset, true); this.offset += 4; return v; }
  f64(field: string): number { this.need(8, field); const v = this.dv.getFloat64(this.offset, true); this.offset += 8; return v; }
  take(n: number, field: string): Uint8Array { this.need(n, field); const b = this.bytes.subarray(this.offset, this.offset + n); this.offset += n; return b; }

  /** A u32 that must lie in [min, max]. */
  u32In(field: string, min: number, max: number): number {
    const v = this.u32(field);
    if (v < min || v > max) throw corrupt(`${this.where}.${field}`, `${v} is outside [${min}, ${max}]`);
    return v;
  }

  /** The section must end here (padding to 4 bytes allowed, and it must be zero). */
  end(): void {
    if (this.remaining >= 4) throw corrupt(this.where, `${this.remaining} unexpected bytes at the end of the section`);
    while (this.remaining) if (this.u8('padding') !== 0) throw corrupt(`${this.where}.padding`, 'padding bytes must be zero');
  }
}

/** What a parser asks its driver for: exactly `bytes` more input bytes, read as `field`. */
export interface Need { bytes: number; field: string }
/** A parser of the saved format: a generator that yields what it needs and receives those bytes. */
export type Pull<T> = Generator<Need, T, Uint8Array>;

/** Runs a parser over one whole buffer; trailing bytes are an error. */
export function pullSync<T>(bytes: Uint8Array, parser: Pull<T>): T {
  if (!(bytes instanceof Uint8Array)) throw new KvpackError('BAD_PARAM', 'must be a Uint8Array', 'bytes');
  let off = 0;
  let r = parser.next(new Uint8Array(0));
  while (!r.done) {
    const { bytes: n, field } = r.value;
    if (n > bytes.length - off) throw corrupt(field, `truncated: needs ${n} bytes at offset ${off}, the input has ${bytes.length - off} left`);
    const b = bytes.subarray(off, off + n);
    off += n;
    r = parser.next(b);
  }
  if (off !== bytes.length) throw corrupt('end', `${bytes.length - off} bytes after the end section`);
  return r.value;
}

/** Byte chunks from any of the sources the chunked readers take. */
export type ChunkSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | ReadableStream<Uint8Array>;

async function* chunksOf(source: ChunkSource): AsyncGenerator<Uint8Array> {
  const s = source as unknown as Record<symbol | string, unknown> | null;
  if (s === null || typeof s !== 'object' || !(typeof s.getReader === 'function' || typeof s[Symbol.asyncIterator] === 'function' || typeof s[Symbol.iterator] === 'function')) {
    throw new KvpackError('BAD_PARAM', `must be an async iterable, an iterable or a ReadableStream of Uint8Array chunks, got ${s === null ? 'null' : typeof s}`, 'source');
  }
  // ReadableStream is not async-iterable in every runtime (Safari): read it through its reader
  if (typeof (source as ReadableStream).getReader === 'function') {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* source as AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/**
 * Runs a parser over chunks of any size. Bytes are buffered only as they arrive, so a length
 * field larger than the input costs the input's size, never the claimed one.
 */
export async function pullChunks<T>(source: ChunkSource, parser: Pull<T>): Promise<T> {
  const it = chunksOf(source);
  const queue: Uint8Array[] = [];
  let buffered = 0, consumed = 0;
  let r = parser.next(new Uint8Array(0));
  try {
    while (!r.done) {
      const { bytes: n, field } = r.value;
      while (buffered < n) {
        const c = await it.next();
        if (c.done) throw corrupt(field, `truncated: needs ${n} bytes at offset ${consumed}, the input has ${buffered} left`);
        if (!(c.value instanceof Uint8Array)) throw new KvpackError('BAD_PARAM', 'chunks must be Uint8Arrays', 'source');
        if (c.value.length) { queue.push(c.value); buffered += c.value.length; }
      }
      let out: Uint8Array;
      if (n === 0) out = new Uint8Array(0);
      else if (queue[0]!.length >= n) {
        out = queue[0]!.subarray(0, n);
        queue[0] = queue[0]!.subarray(n);
        if (!queue[0].length) queue.shift();
      } else {
        out = new Uint8Array(n);
        let o = 0;
        while (o < n) {
          const c = queue[0]!, k = Math.min(c.length, n - o);
          out.set(c.subarray(0, k), o);
          o += k;
          if (k === c.length) queue.shift(); else queue[0] = c.subarray(k);
        }
      }
      buffered -= n;
      consumed += n;
      r = parser.next(out);
    }
    if (buffered > 0) throw corrupt('end', `${buffered} bytes after the end section`);
    for (;;) {
      const c = await it.next();
      if (c.done) break;
      if (c.value.length) throw corrupt('end', 'bytes after the end section');
    }
    return r.value;
  } finally {
    await it.return(undefined);
  }
}

/** Section header size: tag u32, payload length u32. The CRC-32C u32 follows the payload. */
export const SECTION_HEADER_BYTES = 8;

/** A section as chunks: header, the payload parts (views, not copied), CRC-32C over header and payload. */
export function sectionChunks(tag: string, parts: readonly Uint8Array[]): Uint8Array[] {
  let len = 0;
  for (const p of parts) len += p.length;
  if (len % 4 !== 0) throw new Error(`section ${tag}: payload of ${len} bytes is not a multiple of 4`);
  if (len > 0xffffffff - 3) throw new KvpackError('BAD_PARAM', `section ${tag} of ${len} bytes exceeds the format's 4 GiB per section`, 'cache');
  const head = new Uint8Array(SECTION_HEADER_BYTES);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, tagOf(tag), true);
  dv.setUint32(4, len, true);
  let crc = crc32c(head);
  for (const p of parts) crc = crc32c(p, crc);
  const tail = new Uint8Array(4);
  new DataView(tail.buffer).setUint32(0, crc, true);
  // small sections travel as one chunk
  if (len <= 4096) {
    const one = new Uint8Array(SECTION_HEADER_BYTES + len + 4);
    one.set(head, 0);
    let o = SECTION_HEADER_BYTES;
    for (const p of parts) { one.set(p, o); o += p.length; }
    one.set(tail, o);
    return [one];
  }
  return [head, ...parts, tail];
}

/** Reads one section header + payload + CRC; checks the tag, the length bounds and the CRC. */
export function* pullSection(tags: readonly string[], where: string, maxBytes: number, exactBytes?: number): Pull<{ tag: string; payload: Uint8Array }> {
  const head = yield { bytes: SECTION_HEADER_BYTES, field: `${where} section header` };
  const dv = new DataView(head.buffer, head.byteOffset, 8);
  const tag = dv.getUint32(0, true), len = dv.getUint32(4, true);
  const name = tags.find((t) => tagOf(t) === tag);
  if (name === undefined) throw corrupt(`${where}.tag`, `section '${tagName(tag)}' where ${tags.map((t) => `'${t}'`).join(' or ')} belongs`);
  if (len % 4 !== 0) throw corrupt(`${where}.length`, `${len} is not a multiple of 4`);
  if (exactBytes !== undefined && len !== exactBytes) throw corrupt(`${where}.length`, `${len} bytes where the header implies ${exactBytes}`);
  if (len > maxBytes) throw corrupt(`${where}.length`, `${len} bytes exceeds the bound ${maxBytes}`);
  const body = yield { bytes: len + 4, field: `${where} payload` };
  const payload = body.subarray(0, len);
  const stored = new DataView(body.buffer, body.byteOffset + len, 4).getUint32(0, true);
  const crc = crc32c(payload, crc32c(head));
  if (crc !== stored) throw corrupt(`${where}.crc32c`, `checksum ${hex(crc)} != stored ${hex(stored)}: the section is corrupt`);
  return { tag: name, payload };
}

export function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}
