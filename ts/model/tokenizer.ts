import { KvpackError } from '../errors.js';
import { checkBytes } from '../util/args.js';

/** Token ids fixed by llama2.c's tokenizer layout (sentencepiece: <unk>, <s>, </s>). */
export const BOS = 1;
export const EOS = 2;

/**
 * llama2.c's BPE tokenizer (tokenizer.bin / tok512.bin): sentencepiece-style merges by score with
 * byte fallback, ported from run.c `encode` / `decode`.
 *
 * What it cannot encode: a code point whose UTF-8 form is not a vocabulary piece falls back to
 * one `<0xXX>` token per byte; when the vocabulary lacks such a byte token (or the text holds a
 * lone UTF-16 surrogate, which has no UTF-8 form) `encode` throws BAD_PARAM naming `text` and the
 * offset, instead of run.c's silent garbage. tok512 has all 256 byte tokens, so every valid string
 * round-trips through it.
 */
export class Tokenizer {
  readonly vocabSize: number;
  readonly maxTokenLength: number;
  /** Raw bytes of each piece. */
  readonly pieces: readonly Uint8Array[];
  readonly scores: Float32Array;
  private readonly lookup = new Map<string, number>();
  private readonly pairCache = new Map<number, number>();
  /** Token id of byte b (`<0xXX>` piece), -1 when the vocabulary has none. */
  private readonly byteToken = new Int32Array(256).fill(-1);
  /** For decode: the byte a `<0xXX>` token stands for, else -1. */
  private readonly tokenByte: Int16Array;

  constructor(pieces: Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    this.pieces = pieces;
    this.scores = scores;
    this.vocabSize = pieces.length;
    this.maxTokenLength = maxTokenLength;
    this.tokenByte = new Int16Array(pieces.length).fill(-1);
    for (let i = 0; i < pieces.length; i++) {
      const key = latin1(pieces[i]!);
      if (!this.lookup.has(key)) this.lookup.set(key, i); // first wins, like run.c's bsearch over a stable sort
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(key);
      if (m) {
        const b = parseInt(m[1]!, 16);
        this.tokenByte[i] = b;
        if (this.byteToken[b] === -1) this.byteToken[b] = i;
      }
    }
  }

  /**
   * Text -> ids. Like run.c: optional BOS, a dummy-prefix space token (sentencepiece
   * add_dummy_prefix) when the text is not empty, code points looked up whole, else bytes, then
   * greedy merges of the adjacent pair with the highest score; optional EOS.
   */
  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    if (typeof text !== 'string') throw new KvpackError('BAD_PARAM', 'must be a string', 'text');
    const ids: number[] = [];
    if (opts.bos ?? true) ids.push(BOS);
    if (text.length > 0) {
      const space = this.lookup.get(' ');
      if (space === undefined) throw new KvpackError('BAD_PARAM', 'vocabulary has no " " piece for the dummy prefix', 'text');
      ids.push(space);
    }
    const enc = new TextEncoder();
    let offset = 0;
    for (const cp of text) {
      const c = cp.codePointAt(0)!;
      if (c >= 0xd800 && c <= 0xdfff) {
        throw new KvpackError('BAD_PARAM', `lone surrogate U+${c.toString(16).toUpperCase()} at offset ${offset} has no UTF-8 encoding`, 'text');
      }
      const bytes = enc.encode(cp);
      const id = this.lookup.get(latin1(bytes));
      if (id !== undefined) {
        ids.push(id);
      } else {
        for (const b of bytes) {
          const t = this.byteToken[b]!;
          if (t < 0) {
            throw new KvpackError('BAD_PARAM', `character U+${c.toString(16).toUpperCase().padStart(4, '0')} at offset ${offset} ` +
              `is not in the vocabulary and byte 0x${b.toString(16).padStart(2, '0')} has no <0xXX> fallback token`, 'text');
          }
          ids.push(t);
        }
      }
      offset += cp.length;
    }
    this.mergePairs(ids, opts.bos ?? true ? 1 : 0);
    if (opts.eos ?? false) ids.push(EOS);
    return ids;
  }

  /** Piece text of one token following `prev` (run.c decode: drop the space after BOS, bytes for <0xXX>). */
  pieceBytes(prev: number, token: number): Uint8Array {
    this.checkId(token, 'token');
    const b = this.tokenByte[token]!;
    if (b >= 0) return Uint8Array.of(b);
    const p = this.pieces[token]!;
    return prev === BOS && p[0] === 0x20 ? p.subarray(1) : p;
  }

  /** Ids -> text. BOS/EOS are dropped; the dummy-prefix space after BOS is removed. */
  decode(ids: readonly number[]): string {
    const out: number[] = [];
    let prev = -1;
    for (const id of ids) {
      this.checkId(id, 'ids');
      if (id !== BOS && id !== EOS) for (const b of this.pieceBytes(prev, id)) out.push(b);
      prev = id;
    }
    return new TextDecoder().decode(Uint8Array.from(out));
  }

  private checkId(id: number, arg: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new KvpackError('BAD_PARAM', `token id ${id} outside [0, ${this.vocabSize})`, arg);
    }
  }

  /** Id of the piece a+b, or -1; memoized because the merge loop asks the same pairs many times. */
  private pairMerge(a: number, b: number): number {
    const key = a * this.vocabSize + b;
    let id = this.pairCache.get(key);
    if (id === undefined) {
      id = this.lookup.get(latin1(this.pieces[a]!) + latin1(this.pieces[b]!)) ?? -1;
      this.pairCache.set(key, id);
    }
    return id;
  }

  private mergePairs(ids: number[], start: number): void {
    for (;;) {
      let bestScore = -Infinity, bestId = -1, bestIdx = -1;
      for (let i = start; i < ids.length - 1; i++) {
        const id = this.pairMerge(ids[i]!, ids[i + 1]!);
        if (id >= 0 && this.scores[id]! > bestScore) {
          bestScore = this.scores[id]!;
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx < 0) return;
      ids.splice(bestIdx, 2, bestId);
    }
  }
}

/** Bytes as a JS string of code units 0..255: a lossless Map key for byte strings. */
function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * Parses llama2.c tokenizer bytes: int32 max_token_length, then per token float32 score, int32
 * length, bytes. `vocabSize` comes from the model header (the file does not store it); the file
 * must end exactly after the last piece.
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number): Tokenizer {
  checkBytes(bytes, 'bytes');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (m: string): never => { throw new KvpackError('CORRUPT_DATA', m, 'tokenizer'); };
  if (bytes.byteLength < 4) bad(`${bytes.byteLength} bytes: no max_token_length`);
  const maxTokenLength = dv.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) bad(`max_token_length=${maxTokenLength} out of range`);
  const pieces: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  let off = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (off + 8 > bytes.byteLength) bad(`truncated at token ${i} of ${vocabSize} (offset ${off})`);
    const score = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    off += 8;
    if (!Number.isFinite(score)) bad(`token ${i} has score ${score}`);
    if (len < 0 || len > maxTokenLength) bad(`token ${i} has length ${len} outside [0, max_token_length=${maxTokenLength}]`);
    if (off + len > bytes.byteLength) bad(`truncated inside token ${i} of ${vocabSize} (offset ${off}, length ${len})`);
    pieces.push(bytes.slice(off, off + len));
    scores[i] = score;
    off += len;
  }
  if (off !== bytes.byteLength) bad(`${bytes.byteLength - off} trailing bytes after ${vocabSize} tokens: vocabulary size disagrees with the model`);
  return new Tokenizer(pieces, scores, maxTokenLength);
}
