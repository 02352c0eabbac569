import { KvpackError } from '../errors.js';
import { FORMAT_VERSION, MAX_HEAD_DIM, HEAD_DIM_MULTIPLE, TILE_TOKENS, TILES_PER_PAGE } from '../format/constants.js';
import { codecInfo, createCodec } from '../codecs/registry.js';
import { RotatedCodec, rotationOf } from '../codecs/rotation.js';
import type { StreamCodec } from '../codecs/types.js';
import { QAQ_MAX_ATTENTION_WINDOW } from '../codecs/qaq/options.js';
import { QAQ_OUTLIER_OFFSET, recordCodeOffset, recordTokenBits } from '../codecs/qaq/record.js';
import {
  ByteReader, ByteWriter, corrupt, leBytes, pullSection, sectionChunks, setFromLe, tagOf, type Pull,
} from './bytes.js';
import { encodeValue, readValue } from './values.js';

/**
 * The saved-cache format (docs/FORMAT.md, "Saved caches"): a preamble (magic, version), then
 * checksummed sections: FILE, per layer LAYR and per sequence SEQ + PAGE... + (OFFS) + FPRW,
 * then END. This module turns plain layer data into chunks and bytes back into layer data; it
 * knows no cache class (the caches build themselves from the data), so nothing imports back.
 */
export const SAVE_MAGIC = 'KVPK';
/** Version of the saved-cache container; bump on any change to docs/FORMAT.md "Saved caches". */
export const SAVE_FORMAT_VERSION = 1;
/** Most layers one file holds. */
export const MAX_SAVED_LAYERS = 65536;
/** Largest per-token fp row a saved layer may declare (nKvHeads * headDim). */
export const MAX_TOKEN_FLOATS = 1 << 16;
/** Bound on fp tokens (window, sinks) a saved layer may declare (the cache's own MAX_FP_TOKENS). */
const MAX_FP_TOKENS = 65536;
/** Header sections (FILE, LAYR, SEQ) are small; CQ codebooks are the largest part (a few MB). */
const MAX_HEADER_SECTION = 1 << 28;
const MAX_SECTION = 0xfffffffc;

export interface PackedSequenceData {
  id: number;
  tiles: number;
  sinkCount: number;
  tailCount: number;
  /** ceil(tiles / TILES_PER_PAGE) pages; only the sealed tile slots are read. */
  pages: readonly Uint32Array[];
  /** At least sinkCount / tailCount rows of tokenFloats. */
  sinkK: Float32Array; sinkV: Float32Array; tailK: Float32Array; tailV: Float32Array;
}

export interface PackedLayerData {
  kind: 'packed';
  nKvHeads: number; headDim: number; window: number; sinks: number;
  key: StreamCodec; value: StreamCodec;
  sequences: PackedSequenceData[];
}

/** QAQ's attention-window tracker state (ts/codecs/qaq/attention-window.ts) of one sequence. */
export interface QaqWindowData {
  rows: number;
  top1: Float64Array; top1Pos: Float64Array; top2: Float64Array;
  /** tailCount slots x units x attentionWindow. */
  hist: Float32Array;
  /** tailCount slots. */
  firstRow: Float64Array;
}

export interface QaqSequenceData {
  id: number;
  tiles: number;
  tailCount: number;
  /** Arena pages: every page but the last pageWords long as stored; the last one's first pageUsed words are read. */
  pages: readonly Uint32Array[];
  pageUsed: number;
  /** tiles * groups * 2 record addresses. */
  offsets: Uint32Array;
  tailK: Float32Array; tailV: Float32Array;
  window: QaqWindowData;
}

export interface QaqLayerData {
  kind: 'qaq';
  nKvHeads: number; headDim: number; window: number;
  /** QAQ options, resolved (qMax one number per KV head, level 'head' or 'layer'). */
  options: Record<string, unknown>;
  groups: number; rowWidth: number; outliersPerRow: number; pageWords: number;
  /** The cache's stats counters, so stats() reads the same after a restore. */
  counters: Record<string, unknown>;
  sequences: QaqSequenceData[];
}

export type LayerData = PackedLayerData | QaqLayerData;

const KIND_PACKED = 1, KIND_QAQ = 2;

// ---- writing -----------------------------------------------------------------------------------

function u32s(...v: number[]): Uint8Array {
  return leBytes(new Uint32Array(v));
}

export function preambleChunk(): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, tagOf(SAVE_MAGIC), true);
  dv.setUint32(4, SAVE_FORMAT_VERSION, true);
  return b;
}

/** Preamble, FILE section and, when `meta` is given, the META section (one plain value, e.g. the prompt). */
export function fileChunks(layers: number, meta?: unknown): Uint8Array[] {
  if (!Number.isInteger(layers) || layers < 1 || layers > MAX_SAVED_LAYERS) {
    throw new KvpackError('BAD_PARAM', `must be 1..${MAX_SAVED_LAYERS} caches, got ${layers}`, 'caches');
  }
  const out = [preambleChunk(), ...sectionChunks('FILE', [u32s(FORMAT_VERSION, layers, 0, 0)])];
  if (meta !== undefined) out.push(...sectionChunks('META', [encodeValue(meta, 'meta')]));
  return out;
}

export function endChunks(): Uint8Array[] {
  return sectionChunks('END ', []);
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The saved description of a codec: its registry name and calibration, less what its param words
 * hold (CodecInfo.savedCalibration); checked to rebuild the same codec from what the file keeps.
 */
function codecSpec(c: StreamCodec, headDim: number, nKvHeads: number, field: string): Record<string, unknown> {
  // a rotated stream (`@rk` / `@rv`): its inner codec and the rotation's seed; tiles hold the inner
  // codec's words of rotated rows, the fp rows stay in model space (decisions.md#D32)
  const rot = rotationOf(c);
  if (rot) {
    if (rotationOf(rot.inner) || !Number.isInteger(rot.seed) || rot.seed < 0 || rot.seed > 0xffffffff) {
      throw new KvpackError('BAD_PARAM', `codec '${c.name}': only one rotation with a u32 seed can be saved`, field);
    }
    return { ...codecSpec(rot.inner, headDim, nKvHeads, field), rotation: rot.seed };
  }
  let rebuilt: StreamCodec;
  let calibration = c.calibration;
  try {
    const sc = codecInfo(c.name).savedCalibration;
    if (sc && calibration !== undefined) calibration = sc.strip(calibration, c.paramWords);
    const full = sc && calibration !== undefined ? sc.restore(calibration, c.paramWords) : calibration;
    rebuilt = createCodec(c.name, { kind: c.kind, headDim, nKvHeads, calibration: full });
  } catch (e) {
    throw new KvpackError('BAD_PARAM', `codec '${c.name}' cannot be rebuilt from its name and calibration (${(e as Error).message}), so it cannot be saved`, field);
  }
  if (rebuilt.tileWords !== c.tileWords || !sameWords(rebuilt.paramWords, c.paramWords)) {
    throw new KvpackError('BAD_PARAM', `codec '${c.name}' was built with options its name and calibration do not carry, so it cannot be saved`, field);
  }
  return calibration === undefined ? { name: c.name } : { name: c.name, calibration };
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new KvpackError('BAD_PARAM', `sequence id ${id} does not fit the format's u32`, 'seq');
}

export function packedLayerChunks(l: PackedLayerData, sequenceCount: number): Uint8Array[] {
  const spec = encodeValue({ key: codecSpec(l.key, l.headDim, l.nKvHeads, 'key'), value: codecSpec(l.value, l.headDim, l.nKvHeads, 'value') }, 'codecs');
  return sectionChunks('LAYR', [
    u32s(KIND_PACKED, l.nKvHeads, l.headDim, l.window, l.sinks, sequenceCount,
      l.key.tileWords, l.value.tileWords, l.key.paramWords.length, l.value.paramWords.length),
    leBytes(l.key.paramWords), leBytes(l.value.paramWords), spec,
  ]);
}

export function packedSequenceChunks(l: PackedLayerData, s: PackedSequenceData): Uint8Array[] {
  checkId(s.id);
  const tf = l.nKvHeads * l.headDim, slot = l.nKvHeads * (l.key.tileWords + l.value.tileWords);
  const out = sectionChunks('SEQ ', [u32s(s.id, s.tiles, s.sinkCount, s.tailCount)]);
  for (let p = 0; p * TILES_PER_PAGE < s.tiles; p++) {
    const n = Math.min(TILES_PER_PAGE, s.tiles - p * TILES_PER_PAGE);
    out.push(...sectionChunks('PAGE', [leBytes(s.pages[p]!.subarray(0, n * slot))]));
  }
  out.push(...sectionChunks('FPRW', [
    leBytes(s.sinkK.subarray(0, s.sinkCount * tf)), leBytes(s.sinkV.subarray(0, s.sinkCount * tf)),
    leBytes(s.tailK.subarray(0, s.tailCount * tf)), leBytes(s.tailV.subarray(0, s.tailCount * tf)),
  ]));
  return out;
}

export function qaqLayerChunks(l: QaqLayerData, sequenceCount: number): Uint8Array[] {
  return sectionChunks('LAYR', [
    u32s(KIND_QAQ, l.nKvHeads, l.headDim, l.window, 0, sequenceCount, l.groups, l.rowWidth, l.outliersPerRow, l.pageWords),
    encodeValue({ options: l.options, counters: l.counters }, 'qaq'),
  ]);
}

export function qaqSequenceChunks(l: QaqLayerData, s: QaqSequenceData): Uint8Array[] {
  checkId(s.id);
  const tf = l.nKvHeads * l.headDim;
  const w = s.window;
  const out = sectionChunks('SEQ ', [
    u32s(s.id, s.tiles, s.tailCount, s.pages.length, s.pageUsed),
    encodeValue({ rows: w.rows, top1: w.top1, top1Pos: w.top1Pos, top2: w.top2, hist: w.hist, firstRow: w.firstRow }, 'window'),
  ]);
  s.pages.forEach((p, i) => out.push(...sectionChunks('PAGE', [leBytes(i === s.pages.length - 1 ? p.subarray(0, s.pageUsed) : p.subarray(0, l.pageWords))])));
  out.push(...sectionChunks('OFFS', [leBytes(s.offsets.subarray(0, s.tiles * l.groups * 2))]));
  out.push(...sectionChunks('FPRW', [leBytes(s.tailK.subarray(0, s.tailCount * tf)), leBytes(s.tailV.subarray(0, s.tailCount * tf))]));
  return out;
}

/** Every chunk of a file holding `layers`, in order. */
export function* layersChunks(layers: readonly LayerData[], meta?: unknown): Generator<Uint8Array> {
  yield* fileChunks(layers.length, meta);
  for (const l of layers) {
    if (l.kind === 'packed') {
      yield* packedLayerChunks(l, l.sequences.length);
      for (const s of l.sequences) yield* packedSequenceChunks(l, s);
    } else {
      yield* qaqLayerChunks(l, l.sequences.length);
      for (const s of l.sequences) yield* qaqSequenceChunks(l, s);
    }
  }
  yield* endChunks();
}

/** Joins chunks into one buffer (one allocation). */
export function concatChunks(chunks: Iterable<Uint8Array>): Uint8Array {
  const list = [...chunks];
  let n = 0;
  for (const c of list) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of list) { out.set(c, o); o += c.length; }
  return out;
}

// ---- reading -----------------------------------------------------------------------------------

/** What a reader reports besides the data (kvpack inspect). */
export interface SectionInfo { tag: string; bytes: number; layer?: number; seq?: number }
export interface ReadObserver { section?(info: SectionInfo): void }

export interface ParsedFile { version: number; tileFormatVersion: number; layers: LayerData[]; meta?: unknown }

function readF32(bytes: Uint8Array): Float32Array {
  const a = new Float32Array(bytes.length / 4);
  setFromLe(a, bytes);
  return a;
}

function checkFiniteRows(a: Float32Array, field: string): void {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) throw corrupt(field, `element ${i} is ${a[i]}: fp rows are finite`);
}

export function* parseFile(obs: ReadObserver = {}): Pull<ParsedFile> {
  const pre = yield { bytes: 8, field: 'preamble' };
  const dv = new DataView(pre.buffer, pre.byteOffset, 8);
  if (dv.getUint32(0, true) !== tagOf(SAVE_MAGIC)) throw corrupt('magic', `not a kvpack saved cache (no '${SAVE_MAGIC}' magic)`);
  const version = dv.getUint32(4, true);
  if (version !== SAVE_FORMAT_VERSION) {
    throw new KvpackError(version > SAVE_FORMAT_VERSION ? 'UNSUPPORTED_VERSION' : 'CORRUPT_DATA',
      `saved-cache format version ${version}; this kvpack reads version ${SAVE_FORMAT_VERSION}`, 'version');
  }
  const file = yield* pullSection(['FILE'], 'file', 16, 16);
  obs.section?.({ tag: 'FILE', bytes: file.payload.length });
  const fr = new ByteReader(file.payload, 'file');
  const tileFormatVersion = fr.u32('tileFormatVersion');
  if (tileFormatVersion !== FORMAT_VERSION) {
    throw new KvpackError('UNSUPPORTED_VERSION', `tile format version ${tileFormatVersion}; this kvpack packs version ${FORMAT_VERSION}`, 'file.tileFormatVersion');
  }
  const nLayers = fr.u32In('layers', 1, MAX_SAVED_LAYERS);
  if (fr.u32('flags') !== 0 || fr.u32('reserved') !== 0) throw corrupt('file.flags', 'must be 0 in version 1');
  const layers: LayerData[] = [];
  // an optional META section, then the layers
  const first = yield* pullSection(['META', 'LAYR'], 'layer[0]', MAX_HEADER_SECTION);
  let meta: unknown;
  let pending: Uint8Array | undefined = first.payload;
  if (first.tag === 'META') {
    obs.section?.({ tag: 'META', bytes: first.payload.length });
    const mr = new ByteReader(first.payload, 'meta');
    meta = readValue(mr, 'value');
    mr.end();
    pending = undefined;
  }
  for (let li = 0; li < nLayers; li++) {
    layers.push(yield* parseLayer(li, obs, pending));
    pending = undefined;
  }
  const end = yield* pullSection(['END '], 'end', 0, 0);
  obs.section?.({ tag: 'END ', bytes: end.payload.length });
  return { version, tileFormatVersion, layers, ...(meta !== undefined ? { meta } : {}) };
}

function* parseLayer(li: number, obs: ReadObserver, already?: Uint8Array): Pull<LayerData> {
  const where = `layer[${li}]`;
  const payload = already ?? (yield* pullSection(['LAYR'], where, MAX_HEADER_SECTION)).payload;
  obs.section?.({ tag: 'LAYR', bytes: payload.length, layer: li });
  const r = new ByteReader(payload, where);
  const kind = r.u32In('kind', KIND_PACKED, KIND_QAQ);
  const nKvHeads = r.u32In('nKvHeads', 1, MAX_TOKEN_FLOATS / HEAD_DIM_MULTIPLE);
  const headDim = r.u32In('headDim', HEAD_DIM_MULTIPLE, MAX_HEAD_DIM);
  if (headDim % HEAD_DIM_MULTIPLE !== 0) throw corrupt(`${where}.headDim`, `${headDim} is not a multiple of ${HEAD_DIM_MULTIPLE}`);
  if (nKvHeads * headDim > MAX_TOKEN_FLOATS) throw corrupt(`${where}.nKvHeads`, `nKvHeads*headDim=${nKvHeads * headDim} exceeds ${MAX_TOKEN_FLOATS}`);
  const window = r.u32In('window', 0, MAX_FP_TOKENS);
  const sinks = r.u32In('sinks', 0, kind === KIND_QAQ ? 0 : MAX_FP_TOKENS);
  const nSeq = r.u32('sequences');
  return kind === KIND_PACKED
    ? yield* parsePackedLayer(r, li, obs, { nKvHeads, headDim, window, sinks, nSeq })
    : yield* parseQaqLayer(r, li, obs, { nKvHeads, headDim, window, nSeq });
}

function rebuildCodec(spec: unknown, kind: 'key' | 'value', headDim: number, nKvHeads: number, tileWords: number, params: Uint32Array, field: string): StreamCodec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec) || ArrayBuffer.isView(spec)) throw corrupt(field, 'must be an object {name, calibration?, rotation?}');
  const { name, calibration, rotation, ...rest } = spec as Record<string, unknown>;
  if (typeof name !== 'string') throw corrupt(`${field}.name`, 'must be a string');
  if (Object.keys(rest).length) throw corrupt(field, `unknown member '${Object.keys(rest)[0]}'`);
  if (rotation !== undefined && !(typeof rotation === 'number' && Number.isInteger(rotation) && rotation >= 0 && rotation <= 0xffffffff)) {
    throw corrupt(`${field}.rotation`, 'must be a u32 seed');
  }
  let codec: StreamCodec;
  try {
    // a calibration saved without what the param words hold (CQ: the codebook) gets it back from them
    const sc = codecInfo(name).savedCalibration;
    const full = sc && calibration !== undefined ? sc.restore(calibration, params) : calibration;
    codec = createCodec(name, { kind, headDim, nKvHeads, ...(full !== undefined ? { calibration: full } : {}) });
  } catch (e) {
    if (e instanceof KvpackError && e.code === 'UNKNOWN_CODEC') throw new KvpackError('UNKNOWN_CODEC', e.message, `${field}.name`);
    if (e instanceof KvpackError) throw corrupt(`${field}`, `codec '${name}' does not rebuild from the saved calibration: ${e.message}`);
    throw corrupt(field, `codec '${name}' failed to rebuild: ${(e as Error).message}`);
  }
  if (codec.tileWords !== tileWords) throw corrupt(`${field}.tileWords`, `codec '${name}' has ${codec.tileWords} words per tile, the file says ${tileWords}`);
  if (!sameWords(codec.paramWords, params)) throw corrupt(`${field}.params`, `codec '${name}' rebuilt from the calibration has other parameter words than the file`);
  if (rotation === undefined) return codec;
  try {
    return new RotatedCodec(codec, rotation as number);
  } catch (e) {
    throw corrupt(`${field}.rotation`, (e as Error).message);
  }
}

function* parsePackedLayer(r: ByteReader, li: number, obs: ReadObserver,
  h: { nKvHeads: number; headDim: number; window: number; sinks: number; nSeq: number }): Pull<PackedLayerData> {
  const where = `layer[${li}]`;
  const kTW = r.u32In('keyTileWords', 1, MAX_SECTION / 4), vTW = r.u32In('valueTileWords', 1, MAX_SECTION / 4);
  const kPW = r.u32('keyParamWords'), vPW = r.u32('valueParamWords');
  r.need(kPW * 4, 'keyParams');
  const kp = new Uint32Array(kPW); setFromLe(kp, r.take(kPW * 4, 'keyParams'));
  r.need(vPW * 4, 'valueParams');
  const vp = new Uint32Array(vPW); setFromLe(vp, r.take(vPW * 4, 'valueParams'));
  const spec = readValue(r, 'codecs');
  r.end();
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec) || ArrayBuffer.isView(spec)) throw corrupt(`${where}.codecs`, 'must be an object {key, value}');
  const sp = spec as Record<string, unknown>;
  const key = rebuildCodec(sp.key, 'key', h.headDim, h.nKvHeads, kTW, kp, `${where}.codecs.key`);
  const value = rebuildCodec(sp.value, 'value', h.headDim, h.nKvHeads, vTW, vp, `${where}.codecs.value`);
  const tf = h.nKvHeads * h.headDim;
  const slot = h.nKvHeads * (kTW + vTW);
  if (slot * 4 * TILES_PER_PAGE > MAX_SECTION) throw corrupt(`${where}.tileWords`, `a page of ${slot * 4 * TILES_PER_PAGE} bytes exceeds a section`);
  const sequences: PackedSequenceData[] = [];
  const ids = new Set<number>();
  for (let si = 0; si < h.nSeq; si++) {
    const sw = `${where}.seq[${si}]`;
    const sec = yield* pullSection(['SEQ '], sw, 16, 16);
    const sr = new ByteReader(sec.payload, sw);
    const id = sr.u32('id');
    if (ids.has(id)) throw corrupt(`${sw}.id`, `sequence ${id} appears twice`);
    ids.add(id);
    const tiles = sr.u32('tiles');
    const sinkCount = sr.u32In('sinkCount', 0, h.sinks);
    const tailCount = sr.u32In('tailCount', 0, h.window + TILE_TOKENS - 1);
    if (sinkCount < h.sinks && (tiles > 0 || tailCount > 0)) throw corrupt(`${sw}.sinkCount`, `${sinkCount} < sinks=${h.sinks} but the sequence has tiles or a tail (tokens fill the sinks first)`);
    if (tiles > 0 && tailCount < h.window) throw corrupt(`${sw}.tailCount`, `${tailCount} < window=${h.window} with sealed tiles (a tile is sealed only past the window)`);
    if (sinkCount + tiles + tailCount === 0) throw corrupt(sw, 'a saved sequence holds at least one token');
    obs.section?.({ tag: 'SEQ ', bytes: sec.payload.length, layer: li, seq: id });
    const pages: Uint32Array[] = [];
    for (let p = 0; p * TILES_PER_PAGE < tiles; p++) {
      const n = Math.min(TILES_PER_PAGE, tiles - p * TILES_PER_PAGE);
      const pg = yield* pullSection(['PAGE'], `${sw}.page[${p}]`, MAX_SECTION, n * slot * 4);
      obs.section?.({ tag: 'PAGE', bytes: pg.payload.length, layer: li, seq: id });
      // the last page is allocated whole (PackedKvCache appends into it): at most TILES_PER_PAGE times the slots read
      const page = new Uint32Array(TILES_PER_PAGE * slot);
      setFromLe(page.subarray(0, n * slot), pg.payload);
      pages.push(page);
    }
    const fpBytes = (sinkCount + tailCount) * tf * 8;
    const fp = yield* pullSection(['FPRW'], `${sw}.fp`, MAX_SECTION, fpBytes);
    obs.section?.({ tag: 'FPRW', bytes: fp.payload.length, layer: li, seq: id });
    const rows = readF32(fp.payload);
    checkFiniteRows(rows, `${sw}.fp`);
    const sk = sinkCount * tf, tk = tailCount * tf;
    sequences.push({
      id, tiles, sinkCount, tailCount, pages,
      sinkK: rows.subarray(0, sk), sinkV: rows.subarray(sk, 2 * sk), tailK: rows.subarray(2 * sk, 2 * sk + tk), tailV: rows.subarray(2 * sk + tk),
    });
  }
  return { kind: 'packed', nKvHeads: h.nKvHeads, headDim: h.headDim, window: h.window, sinks: h.sinks, key, value, sequences };
}

function isF64(x: unknown, n: number): x is Float64Array { return x instanceof Float64Array && x.length === n; }

function* parseQaqLayer(r: ByteReader, li: number, obs: ReadObserver,
  h: { nKvHeads: number; headDim: number; window: number; nSeq: number }): Pull<QaqLayerData> {
  const where = `layer[${li}]`;
  const groups = r.u32('groups'), rowWidth = r.u32('rowWidth'), outliersPerRow = r.u32('outliersPerRow'), pageWords = r.u32('pageWords');
  const v = readValue(r, 'qaq');
  r.end();
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) throw corrupt(`${where}.qaq`, 'must be an object {options, counters}');
  const { options, counters } = v as Record<string, unknown>;
  if (typeof options !== 'object' || options === null || Array.isArray(options) || ArrayBuffer.isView(options)) throw corrupt(`${where}.qaq.options`, 'must be an object');
  if (typeof counters !== 'object' || counters === null || Array.isArray(counters) || ArrayBuffer.isView(counters)) throw corrupt(`${where}.qaq.counters`, 'must be an object');
  const o = options as Record<string, unknown>;
  // the cache recomputes groups, rowWidth, outliers and pageWords from the options and checks them
  // (QaqKvCache.fromData); the parser needs them now to bound what it reads
  const W = o.attentionWindow;
  if (typeof W !== 'number' || !Number.isInteger(W) || W < 1 || W > QAQ_MAX_ATTENTION_WINDOW) throw corrupt(`${where}.qaq.options.attentionWindow`, `must be an integer in [1, ${QAQ_MAX_ATTENTION_WINDOW}]`);
  if (groups !== 1 && groups !== h.nKvHeads) throw corrupt(`${where}.groups`, `must be 1 or nKvHeads=${h.nKvHeads}, got ${groups}`);
  if (rowWidth * groups !== h.nKvHeads * h.headDim) throw corrupt(`${where}.rowWidth`, `${rowWidth} x ${groups} groups != nKvHeads*headDim`);
  if (outliersPerRow >= rowWidth) throw corrupt(`${where}.outliersPerRow`, `${outliersPerRow} >= rowWidth ${rowWidth}`);
  const maxRecord = recordCodeOffset(outliersPerRow) + rowWidth * 8;
  if (pageWords < maxRecord || pageWords > MAX_SECTION / 4) throw corrupt(`${where}.pageWords`, `${pageWords} outside [${maxRecord}, ${MAX_SECTION / 4}]`);
  const tf = h.nKvHeads * h.headDim;
  const units = groups;
  const sequences: QaqSequenceData[] = [];
  const ids = new Set<number>();
  for (let si = 0; si < h.nSeq; si++) {
    const sw = `${where}.seq[${si}]`;
    const sec = yield* pullSection(['SEQ '], sw, MAX_HEADER_SECTION);
    const sr = new ByteReader(sec.payload, sw);
    const id = sr.u32('id');
    if (ids.has(id)) throw corrupt(`${sw}.id`, `sequence ${id} appears twice`);
    ids.add(id);
    const tiles = sr.u32('tiles');
    const tailCount = sr.u32In('tailCount', 0, h.window + TILE_TOKENS - 1);
    const nPages = sr.u32('pages');
    const pageUsed = sr.u32In('pageUsed', 0, pageWords);
    if (tiles > 0 && tailCount < h.window) throw corrupt(`${sw}.tailCount`, `${tailCount} < window=${h.window} with sealed tiles`);
    if (tiles + tailCount === 0) throw corrupt(sw, 'a saved sequence holds at least one token');
    if ((tiles === 0) !== (nPages === 0)) throw corrupt(`${sw}.pages`, `${nPages} pages for ${tiles} tiles`);
    if (nPages > tiles * groups * 2) throw corrupt(`${sw}.pages`, `${nPages} pages for ${tiles * groups * 2} records`);
    const wv = readValue(sr, 'window');
    sr.end();
    if (typeof wv !== 'object' || wv === null || Array.isArray(wv) || ArrayBuffer.isView(wv)) throw corrupt(`${sw}.window`, 'must be an object');
    const w = wv as Record<string, unknown>;
    const rows = w.rows;
    if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0) throw corrupt(`${sw}.window.rows`, 'must be a non-negative integer');
    for (const k of ['top1', 'top1Pos', 'top2'] as const) if (!isF64(w[k], units * W)) throw corrupt(`${sw}.window.${k}`, `must be a Float64Array of ${units * W}`);
    if (!(w.hist instanceof Float32Array) || w.hist.length !== tailCount * units * W) throw corrupt(`${sw}.window.hist`, `must be a Float32Array of ${tailCount * units * W}`);
    if (!isF64(w.firstRow, tailCount)) throw corrupt(`${sw}.window.firstRow`, `must be a Float64Array of ${tailCount}`);
    for (const k of ['top1', 'top2', 'hist'] as const) {
      for (const x of w[k] as Float64Array | Float32Array) if (Number.isNaN(x) || x === Infinity) throw corrupt(`${sw}.window.${k}`, 'attention weights are numbers below +Infinity');
    }
    for (const x of w.top1Pos as Float64Array) if (!Number.isInteger(x) || x < -1) throw corrupt(`${sw}.window.top1Pos`, 'positions are integers >= -1');
    const firstRow = w.firstRow as Float64Array;
    for (let i = 0; i < tailCount; i++) if (!(Number.isInteger(firstRow[i]) && firstRow[i]! >= 0 && firstRow[i]! <= rows)) throw corrupt(`${sw}.window.firstRow`, `element ${i} is not a row in [0, rows]`);
    obs.section?.({ tag: 'SEQ ', bytes: sec.payload.length, layer: li, seq: id });
    const pages: Uint32Array[] = [];
    for (let p = 0; p < nPages; p++) {
      const last = p === nPages - 1;
      const pg = yield* pullSection(['PAGE'], `${sw}.page[${p}]`, MAX_SECTION, (last ? pageUsed : pageWords) * 4);
      obs.section?.({ tag: 'PAGE', bytes: pg.payload.length, layer: li, seq: id });
      const page = new Uint32Array(last ? pageUsed : pageWords);
      setFromLe(page, pg.payload);
      pages.push(page);
    }
    const offs = yield* pullSection(['OFFS'], `${sw}.offsets`, MAX_SECTION, tiles * groups * 2 * 4);
    obs.section?.({ tag: 'OFFS', bytes: offs.payload.length, layer: li, seq: id });
    const offsets = new Uint32Array(tiles * groups * 2);
    setFromLe(offsets, offs.payload);
    validateQaqRecords(pages, pageWords, offsets, rowWidth, outliersPerRow, sw);
    const fp = yield* pullSection(['FPRW'], `${sw}.fp`, MAX_SECTION, tailCount * tf * 8);
    obs.section?.({ tag: 'FPRW', bytes: fp.payload.length, layer: li, seq: id });
    const fpRows = readF32(fp.payload);
    checkFiniteRows(fpRows, `${sw}.fp`);
    sequences.push({
      id, tiles, tailCount, pages, pageUsed, offsets,
      tailK: fpRows.subarray(0, tailCount * tf), tailV: fpRows.subarray(tailCount * tf),
      window: { rows, top1: w.top1 as Float64Array, top1Pos: w.top1Pos as Float64Array, top2: w.top2 as Float64Array, hist: w.hist, firstRow },
    });
  }
  return {
    kind: 'qaq', nKvHeads: h.nKvHeads, headDim: h.headDim, window: h.window, options: o,
    groups, rowWidth, outliersPerRow, pageWords, counters: counters as Record<string, unknown>, sequences,
  };
}

/**
 * Every record an offset points at must lie whole inside its page, have widths 1..8 and
 * outlier columns below rowWidth, ascending: the attention kernels (TS, WASM, WGSL) trust that.
 */
function validateQaqRecords(pages: Uint32Array[], pageWords: number, offsets: Uint32Array, rowWidth: number, m: number, where: string): void {
  for (let i = 0; i < offsets.length; i++) {
    const addr = offsets[i]!;
    const p = Math.floor(addr / pageWords), off = addr % pageWords;
    const field = `${where}.offsets[${i}]`;
    if (p >= pages.length) throw corrupt(field, `record address ${addr} is past the ${pages.length} pages`);
    const page = pages[p]!;
    if (off + QAQ_OUTLIER_OFFSET > page.length) throw corrupt(field, `record at ${addr} runs past its page`);
    let sum = 0;
    for (let t = 0; t < TILE_TOKENS; t++) {
      const b = recordTokenBits(page, off, t);
      if (b < 1 || b > 8) throw corrupt(field, `token ${t} has width ${b} (1..8)`);
      sum += b;
    }
    const words = recordCodeOffset(m) + Math.ceil((rowWidth * sum) / 32);
    if (off + words > page.length) throw corrupt(field, `record of ${words} words at ${addr} runs past its page`);
    for (let t = 0; t < TILE_TOKENS; t++) {
      let prev = -1;
      for (let j = 0; j < m; j++) {
        const col = page[off + QAQ_OUTLIER_OFFSET + t * m + j]! & 0xffff;
        if (col >= rowWidth || col <= prev) throw corrupt(field, `token ${t} outlier ${j}: column ${col} not ascending below ${rowWidth}`);
        prev = col;
      }
    }
  }
}
