import { check, KvpackError } from '../errors.js';
import { HEAD_DIM_MULTIPLE, MAX_HEAD_DIM } from '../format/constants.js';
import { PackedKvCache, type TileEncoderSource } from '../cache/kv-cache.js';
import { codecInfo } from '../codecs/registry.js';
import type { StreamKind } from '../codecs/types.js';
import type { KvCacheLike, SelfAttendingCache } from '../cache/kv-cache-like.js';
import { attendDense } from '../reference/attention.js';
import { TsBackend } from '../backends/ts-backend.js';
import { encodersOf, type AttentionBackend } from '../backends/types.js';
import type { Pairing } from './pairings.js';
import { makeChannelStats, makeKv, makeQueries, type ChannelStats, type WorkloadShape } from './workload.js';

export interface DemoConfig extends WorkloadShape {
  tokens: number;
  /** fp32 recent tokens kept by every cache (KIVI residual / SKVQ window). */
  window: number;
  /** fp32 first tokens kept by every cache (attention sinks). */
  sinks: number;
  /** Decode steps (queries) per pairing: the first warms up (uploads), the rest are timed. */
  steps: number;
  /** Tokens of a separate sequence from the same channel statistics, for codecs that calibrate. */
  calibrationTokens: number;
  /**
   * Skip a pairing whose packing (WASM encoders on a WASM backend, else the TS reference) is estimated, after the first chunk, to
   * take longer than this (0: no limit); reported in `skipped` with the estimate.
   */
  maxPackSeconds: number;
  seed: number;
}

export interface DemoRow {
  label: string;
  key: string;
  value: string;
  /** CacheStats.effectiveBits: everything counted, fp regions at fp16 (as the papers count). */
  effectiveBits: number;
  /** The same with fp regions at fp32, as kvpack stores them on the host. */
  effectiveBitsStored: number;
  ratioVsFp16: number;
  ratioVsFp32: number;
  /** ||o - o_ref||_2 / ||o_ref||_2 over all heads and steps, o_ref = dense fp32 attention. */
  relError: number;
  /** Worst single step's relative error. */
  relErrorMax: number;
  /** Median time of the timed decode steps (all steps when there is one). */
  msPerStep: number;
  /** The first step (includes uploading the cache to the backend). */
  msFirstStep: number;
  /** Wall time to append (pack) all tokens through the TS reference codecs. */
  packMs: number;
  backend: string;
  note?: string;
}

export interface DemoSkip {
  label: string;
  reason: string;
}

export interface DemoResult {
  config: DemoConfig;
  backend: { name: string; description: string };
  /** Which encoders packed the caches: the WASM backend's (same words, faster) or the TS reference. */
  encoders: 'wasm' | 'ts';
  rows: DemoRow[];
  skipped: DemoSkip[];
  /** Output norm of the fp32 reference, for scale. */
  referenceNorm: number;
}

export interface DemoHooks {
  /** Progress lines for long steps (stderr). */
  progress?: (line: string) => void;
}

export function checkDemoConfig(c: DemoConfig): void {
  check(Number.isInteger(c.tokens) && c.tokens >= 1, 'BAD_PARAM', `must be a positive integer, got ${c.tokens}`, 'tokens');
  check(Number.isInteger(c.nKvHeads) && c.nKvHeads >= 1, 'BAD_PARAM', `must be a positive integer, got ${c.nKvHeads}`, 'kvHeads');
  check(Number.isInteger(c.nHeads) && c.nHeads >= 1 && c.nHeads % c.nKvHeads === 0, 'BAD_PARAM',
    `heads=${c.nHeads} must be a positive multiple of kv-heads=${c.nKvHeads}`, 'heads');
  check(Number.isInteger(c.steps) && c.steps >= 1, 'BAD_PARAM', `must be a positive integer, got ${c.steps}`, 'steps');
  check(Number.isInteger(c.calibrationTokens) && c.calibrationTokens >= 32, 'BAD_PARAM',
    `must be an integer >= 32, got ${c.calibrationTokens}`, 'calibrationTokens');
  // The cache checks these too, but per pairing, where a BAD_PARAM means "codec cannot run this
  // shape" and is reported as skipped; a bad demo shape must fail before any work instead.
  check(Number.isInteger(c.headDim) && c.headDim % HEAD_DIM_MULTIPLE === 0 && c.headDim >= HEAD_DIM_MULTIPLE && c.headDim <= MAX_HEAD_DIM,
    'BAD_PARAM', `must be a multiple of ${HEAD_DIM_MULTIPLE} in [${HEAD_DIM_MULTIPLE}, ${MAX_HEAD_DIM}], got ${c.headDim}`, 'headDim');
  check(Number.isInteger(c.window) && c.window >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${c.window}`, 'window');
  check(Number.isInteger(c.sinks) && c.sinks >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${c.sinks}`, 'sinks');
  check(Number.isFinite(c.maxPackSeconds) && c.maxPackSeconds >= 0, 'BAD_PARAM', `must be >= 0, got ${c.maxPackSeconds}`, 'maxPackSeconds');
  check(Number.isInteger(c.seed) && c.seed >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${c.seed}`, 'seed');
}

/**
 * Runs every pairing on one backend over the same synthetic sequence and queries, and measures
 * what each costs (bits) and loses (attention-output error vs dense fp32) and how fast a decode
 * step runs. A pairing that cannot be built (e.g. a calibrated codec without a calibrate hook)
 * is reported in `skipped`; a backend that cannot run a pairing falls back to TS for that row.
 */
export async function runDemo(config: DemoConfig, pairings: readonly Pairing[], backend: AttentionBackend,
  hooks: DemoHooks = {}): Promise<DemoResult> {
  checkDemoConfig(config);
  for (const p of pairings) { codecInfo(p.key); codecInfo(p.value); } // UNKNOWN_CODEC before any work
  const progress = hooks.progress ?? (() => {});
  const { tokens, nHeads, nKvHeads, headDim: d, steps } = config;

  progress(`generating ${tokens} tokens x ${nKvHeads} KV heads x ${d} (seed ${config.seed})`);
  const stats = makeChannelStats(config, config.seed);
  const { keys, values } = makeKv(config, stats, tokens, config.seed + 1);
  const queries = makeQueries(config, stats, steps, config.seed + 2);
  const qLen = nHeads * d;

  progress(`dense fp32 reference attention for ${steps} steps`);
  const reference: Float32Array[] = [];
  for (let i = 0; i < steps; i++) reference.push(attendDense(keys, values, nKvHeads, d, queries.subarray(i * qLen, (i + 1) * qLen), nHeads));
  const referenceNorm = Math.sqrt(reference.reduce((s, r) => s + sumSq(r), 0));

  const calibration = new CalibrationSource(config, stats);
  const fallback = new TsBackend();
  // a WASM backend also packs (its encoders write the TS reference's words, 3-10x faster)
  const encodeWith = encodersOf(backend);
  const rows: DemoRow[] = [];
  const skipped: DemoSkip[] = [];
  for (const [i, p] of pairings.entries()) {
    const tag = `[${i + 1}/${pairings.length}] ${p.label}`;
    const calibrating = [p.key, p.value].some((n) => codecInfo(n).calibrate !== undefined);
    progress(`${tag}: ${calibrating ? `calibrating on ${config.calibrationTokens} tokens of another sequence` : 'creating the cache'}`);
    let built: BuiltCache;
    try {
      built = buildCache(p, config, calibration, encodeWith);
    } catch (e) {
      if (!(e instanceof KvpackError) || (e.code !== 'BAD_CALIBRATION' && e.code !== 'BAD_PARAM')) throw e;
      skipped.push({ label: p.label, reason: `${e.code}: ${e.message}` });
      progress(`${tag}: skipped (${e.message})`);
      continue;
    }
    const cache = built.cache;

    progress(`${tag}: packing ${tokens} tokens`);
    const t0 = performance.now();
    const chunkTokens = 512, tf = cache.tokenFloats;
    let overBudget: string | undefined;
    for (let o = 0; o < tokens; o += chunkTokens) {
      cache.append(0, keys.subarray(o * tf, (o + chunkTokens) * tf), values.subarray(o * tf, (o + chunkTokens) * tf));
      const done = Math.min(tokens, o + chunkTokens), elapsed = (performance.now() - t0) / 1000;
      const estimate = (elapsed * tokens) / done;
      if (config.maxPackSeconds > 0 && done < tokens && estimate > config.maxPackSeconds) {
        overBudget = `packing ${tokens} tokens would take ~${estimate.toFixed(0)} s here (${encodeWith ? 'WASM' : 'TS reference'} encoders; ` +
          `${done} tokens took ${elapsed.toFixed(1)} s), over --max-pack-seconds ${config.maxPackSeconds}`;
        break;
      }
    }
    if (overBudget) {
      skipped.push({ label: p.label, reason: overBudget });
      progress(`${tag}: skipped (${overBudget})`);
      continue;
    }
    const packMs = performance.now() - t0;
    const st = cache.stats();

    const runner = built.self ? 'self' : backend.name;
    progress(`${tag}: ${steps} decode steps on ${built.self ? "the codec's own cache attention" : backend.name}`);
    let used = backend;
    let note: string | undefined = built.note;
    const times: number[] = [];
    const outs: Float32Array[] = [];
    for (let s = 0; s < steps; s++) {
      const q = queries.subarray(s * qLen, (s + 1) * qLen);
      const t1 = performance.now();
      let out: Float32Array;
      try {
        out = built.self ? await built.self.attend([0], q, nHeads) : await used.attend(built.packed!, [0], q, nHeads);
      } catch (e) {
        if (built.self || used === fallback || (e instanceof KvpackError && e.code !== 'BACKEND_UNAVAILABLE')) throw e;
        // The chosen backend cannot run this codec (no kernel yet): keep the row, say so.
        note = `${backend.name} failed (${e instanceof Error ? e.message : String(e)}); ran on ts`;
        progress(`${tag}: ${note}`);
        used = fallback;
        times.length = 0;
        outs.length = 0;
        s = -1;
        continue;
      }
      times.push(performance.now() - t1);
      outs.push(out);
    }
    // Free the backend's mirror of this cache now (GPU buffers / WASM memory), not at dispose.
    if (built.packed) (used as { forget?: (c: PackedKvCache) => void }).forget?.(built.packed);

    let errSq = 0, worst = 0;
    outs.forEach((o, s) => {
      const ref = reference[s]!;
      const e = diffSq(o, ref);
      errSq += e;
      worst = Math.max(worst, Math.sqrt(e / sumSq(ref)));
    });
    const timed = times.length > 1 ? times.slice(1) : times;
    const row: DemoRow = {
      label: p.label, key: p.key, value: p.value,
      effectiveBits: st.effectiveBits, effectiveBitsStored: st.effectiveBitsStored,
      ratioVsFp16: 16 / st.effectiveBits, ratioVsFp32: 32 / st.effectiveBits,
      relError: Math.sqrt(errSq) / referenceNorm, relErrorMax: worst,
      msPerStep: median(timed), msFirstStep: times[0]!, packMs, backend: built.self ? runner : used.name,
    };
    if (note) row.note = note;
    rows.push(row);
  }
  rows.sort((a, b) => b.effectiveBits - a.effectiveBits || a.relError - b.relError);
  return { config, backend: { name: backend.name, description: backend.description }, encoders: encodeWith ? 'wasm' : 'ts', rows, skipped, referenceNorm };
}

interface BuiltCache {
  cache: KvCacheLike;
  /** Set for tile codecs: attention runs on the chosen backend. */
  packed?: PackedKvCache;
  /** Set for codecs that build their own cache (CodecInfo.createCache): it attends itself. */
  self?: SelfAttendingCache;
  note?: string;
}

function buildCache(p: Pairing, c: DemoConfig, calibration: CalibrationSource, encodeWith: TileEncoderSource | undefined): BuiltCache {
  const keyInfo = codecInfo(p.key), valueInfo = codecInfo(p.value);
  const own = keyInfo.createCache ?? valueInfo.createCache;
  if (own) {
    check(p.key === p.value, 'BAD_PARAM', `${keyInfo.createCache ? p.key : p.value} builds the whole cache: pair it with itself`, 'codecs');
    const self = own({ nKvHeads: c.nKvHeads, headDim: c.headDim, window: c.window, calibration: calibration.for(p.key, 'key') });
    const note = c.sinks > 0 ? `own cache (createCache): no attention sinks, ${c.sinks} sink tokens are quantized` : undefined;
    return note ? { cache: self, self, note } : { cache: self, self };
  }
  const packed = new PackedKvCache({
    nKvHeads: c.nKvHeads, headDim: c.headDim, key: p.key, value: p.value, window: c.window, sinks: c.sinks,
    calibration: { key: calibration.for(p.key, 'key'), value: calibration.for(p.value, 'value') },
    ...(encodeWith ? { encodeWith } : {}),
  });
  return { cache: packed, packed };
}

/** Calibration objects per (codec, stream), built once from a separate sequence of the same "model". */
class CalibrationSource {
  private readonly made = new Map<string, unknown>();
  private sample: { keys: Float32Array; values: Float32Array; queries: Float32Array } | undefined;
  constructor(private readonly config: DemoConfig, private readonly stats: ChannelStats) {}

  for(codec: string, kind: StreamKind): unknown {
    const info = codecInfo(codec);
    // Codecs that need calibration and have no hook get none: createCodec then throws
    // BAD_CALIBRATION, reported as skipped. Optional calibration (QAQ's qMax) is used when offered.
    if (!info.calibrate) return undefined;
    const id = `${codec}:${kind}`;
    if (!this.made.has(id)) {
      const c = this.config;
      this.sample ??= {
        ...makeKv(c, this.stats, c.calibrationTokens, c.seed + 3),
        queries: makeQueries(c, this.stats, c.calibrationTokens, c.seed + 4),
      };
      this.made.set(id, info.calibrate({
        kind, headDim: c.headDim, nKvHeads: c.nKvHeads, nHeads: c.nHeads,
        data: kind === 'key' ? this.sample.keys : this.sample.values, queries: this.sample.queries,
      }));
    }
    return this.made.get(id);
  }
}

function sumSq(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s;
}

function diffSq(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) { const t = a[i]! - b[i]!; s += t * t; }
  return s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
