import { codecInfo, createCodec } from '../codecs/registry.js';
import type { StreamKind } from '../codecs/types.js';
import { check, KvpackError } from '../errors.js';
import type { LayerCalibrator } from './calibrate-from-capture.js';
import { pairingCalibration, pairingLayerSpec, parsePairing, rotationSeed, type CodecPairing } from './codec-pairing.js';
import type { Model } from './config.js';
import type { LayerCacheSpec } from './forward.js';
import { evaluatePerplexity } from './perplexity.js';

/**
 * `kvpack tune`: picks a cache configuration (codec pairing, fp window, sinks, group) for a model
 * under a quality budget (perplexity increase at most X% over fp32) or a memory budget (at most B
 * effective bits per element), from a short measurement of every candidate on calibration text
 * (whole-window evaluation, perplexity.ts). docs/QUALITY.md, "Choosing a codec: kvpack tune".
 */

/**
 * Candidates measured when none are given: the tiled codecs at their papers' settings and around
 * them (QAQ builds its own cache and decodes step by step: too slow for a quick calibration run),
 * and rotated twins of the settings where the study found rotation better or no worse at the
 * same bits (decisions.md#D35, #D166): SKVQ's paper setting with both streams rotated, CQ with
 * its values rotated. Rotated CQ keys lose (k-means on rotated keys: 1.3-4.7x the error) and are
 * not tried.
 */
export const TUNE_CANDIDATES: readonly string[] = [
  'q8_0', 'kivi8', 'q4_0', 'kivi4', 'kivi4@w32', 'kivi2', 'kivi2@w32', 'kivi2@w128', 'kivi2@w128@s5',
  'skvq-k4:skvq-v2@w128@s5@g128', 'skvq-k2:skvq-v2@w128@s5@g128', 'skvq-k2:skvq-v1.5@w128@s5@g128',
  'skvq-k2:skvq-v1.5@w128@s5@g128@rk@rv', 'skvq-k2:skvq-v1.5@w32@s5@g128',
  'cq-2c8b', 'cq-4c9b', 'cq-4c8b', 'cq-4c8b@rv', 'cq-4c8b@w32', 'cq-4c8b:cq-8c8b',
  'cq-8c10b', 'cq-8c10b:cq-8c8b', 'cq-8c8b@w32', 'cq-8c8b@w32@rv', 'cq-8c8b',
];

/** TUNE_CANDIDATES a model can run: the rotated ones need a power-of-two head_dim (RotatedCodec). */
export function defaultTuneCandidates(shape: { headDim: number }): string[] {
  return TUNE_CANDIDATES.filter((c) => !parsePairing(c).rotate || powerOfTwo(shape.headDim));
}

const powerOfTwo = (d: number): boolean => d > 0 && (d & (d - 1)) === 0;

/**
 * BAD_PARAM for a candidate tune cannot measure on this model: a codec that builds its own cache
 * (QAQ), a rotation on a head_dim that is not a power of two. The CLI calls it before capturing.
 */
export function checkTuneCandidates(pairings: readonly CodecPairing[], shape: { headDim: number }): void {
  for (const p of pairings) {
    if (codecInfo(p.key).createCache || codecInfo(p.value).createCache) {
      throw new KvpackError('BAD_PARAM', `'${p.label}': tune measures tiled codecs (their config is PackedKvCache options)`, 'candidates');
    }
    if (p.rotate && !powerOfTwo(shape.headDim)) {
      throw new KvpackError('BAD_PARAM', `'${p.label}': rotation needs a power-of-two head_dim, the model's is ${shape.headDim}`, 'candidates');
    }
  }
}

/** The version `kvpack tune --out` writes; parseTuneConfig also reads version 1 (no rotation). */
export const TUNE_CONFIG_VERSION = 2;

/** The rotation of a tuned config (`@rk` / `@rv`): RotatedCodec(inner codec, seed) per rotated stream. */
export interface TuneRotation { key: boolean; value: boolean; seed: number }

export type TuneBudget = { kind: 'quality'; percent: number } | { kind: 'bits'; bits: number };

export interface TuneCandidate {
  pairing: string;
  perplexity: number;
  deltaPercent: number;
  /** Effective bits with calibration parameters spread over `amortize` sequences of ctx tokens. */
  bits: number;
  bitsWithoutParams: number;
  paramBytes: number;
  meetsBudget: boolean;
}

/**
 * The file `kvpack tune --out` writes and `kvpack eval/generate --config` read. JSON-safe.
 * Version 2 added `cache.rotation`; version 1 files (no rotation) read as `rotation: null`.
 */
export interface TuneConfig {
  format: 'kvpack-tune';
  version: typeof TUNE_CONFIG_VERSION;
  /** The chosen pairing as `kvpack eval --codecs` writes it. */
  pairing: string;
  /**
   * PackedKvCache options (ts/cache/kv-cache.ts CacheOptions) but shapes and calibration.
   * `rotation`: which streams sit behind a RotatedCodec and its seed, null when none
   * (tuneCacheSpec builds the RotatedCodec around the inner codec).
   */
  cache: { key: string; value: string; window: number; sinks: number; rotation: TuneRotation | null };
  /**
   * Per layer, the calibration objects of the chosen codecs (null when a codec needs none); a
   * rotated stream's was computed on rotated rows and belongs to the inner codec.
   */
  calibration: { key: unknown; value: unknown }[];
  model: { nLayers: number; nKvHeads: number; headDim: number };
  budget: TuneBudget;
  meetsBudget: boolean;
  reason: string;
  measured: { ctx: number; windows: number; tokens: number; fp32Perplexity: number; amortize: number; candidates: TuneCandidate[] };
}

export interface TuneOptions {
  budget: TuneBudget;
  ctx: number;
  windows: number;
  candidates?: readonly string[];
  /** Sequences of ctx tokens the calibration parameters are shared by (bits column). Default 16. */
  amortize?: number;
  calibrator?: LayerCalibrator;
  onCandidate?: (c: TuneCandidate) => void;
}

export async function tune(model: Model, tokens: readonly number[], opts: TuneOptions): Promise<TuneConfig> {
  const { budget, ctx, windows } = opts;
  const amortize = opts.amortize ?? 16;
  check(budget.kind === 'quality' ? budget.percent >= 0 : budget.bits > 0, 'BAD_PARAM', 'budget must be a percent >= 0 or bits > 0', 'budget');
  check(Number.isInteger(amortize) && amortize >= 1, 'BAD_PARAM', `must be a positive integer, got ${amortize}`, 'amortize');
  const pairings = (opts.candidates ?? defaultTuneCandidates(model.config)).map(parsePairing); // bad names fail before any work
  check(pairings.length > 0, 'BAD_PARAM', 'no candidates', 'candidates');
  checkTuneCandidates(pairings, model.config);
  for (const p of pairings) {
    if ((codecInfo(p.key).needsCalibration || codecInfo(p.value).needsCalibration) && !opts.calibrator) {
      throw new KvpackError('BAD_CALIBRATION', `'${p.label}' needs calibration: pass calibration text`, 'calibrator');
    }
  }
  const run = (p: CodecPairing) => evaluatePerplexity(model, tokens, p, {
    ctx, maxWindows: windows, mode: 'window', ...(opts.calibrator ? { calibrator: opts.calibrator } : {}),
  });
  const base = await run(parsePairing('fp32'));
  const candidates: TuneCandidate[] = [];
  for (const p of pairings) {
    const r = await run(p);
    const bits = r.cache.bitsWithoutParams + (r.cache.paramBytes * 8) / (amortize * r.cache.elements);
    const deltaPercent = 100 * (r.perplexity / base.perplexity - 1);
    const c: TuneCandidate = {
      pairing: p.label, perplexity: r.perplexity, deltaPercent, bits, bitsWithoutParams: r.cache.bitsWithoutParams,
      paramBytes: r.cache.paramBytes, meetsBudget: budget.kind === 'quality' ? deltaPercent <= budget.percent : bits <= budget.bits,
    };
    candidates.push(c);
    opts.onCandidate?.(c);
  }
  const ok = candidates.filter((c) => c.meetsBudget);
  // quality budget: fewest bits that stay within it; bits budget: best perplexity that fits.
  // Ties go to the earlier candidate. Nothing fits: the closest miss, and meetsBudget false.
  const byBits = (a: TuneCandidate, b: TuneCandidate): number => a.bits - b.bits || a.deltaPercent - b.deltaPercent;
  const byDelta = (a: TuneCandidate, b: TuneCandidate): number => a.deltaPercent - b.deltaPercent || a.bits - b.bits;
  const chosen = ok.length
    ? [...ok].sort(budget.kind === 'quality' ? byBits : byDelta)[0]!
    : [...candidates].sort(budget.kind === 'quality' ? byDelta : byBits)[0]!;
  const fmt = (c: TuneCandidate): string => `${c.pairing} (${c.bits.toFixed(2)} bits, ${c.deltaPercent >= 0 ? '+' : ''}${c.deltaPercent.toFixed(2)}%)`;
  const limit = budget.kind === 'quality' ? `perplexity within +${budget.percent}% of fp32` : `at most ${budget.bits} bits/element`;
  const reason = ok.length
    ? `${ok.length} of ${candidates.length} candidates keep ${limit}; ${fmt(chosen)} has the ` +
      (budget.kind === 'quality' ? 'fewest bits among them' : 'lowest perplexity among them')
    : `no candidate keeps ${limit}; the closest is ${fmt(chosen)}`;
  const p = parsePairing(chosen.pairing);
  // the calibrations the measurement used (memoized by the calibrator), rotated ones included
  const calibration = Array.from({ length: model.config.nLayers }, (_, l) => {
    const c = pairingCalibration(p, l, opts.calibrator);
    return { key: c.key ?? null, value: c.value ?? null };
  });
  return {
    format: 'kvpack-tune', version: TUNE_CONFIG_VERSION, pairing: p.label,
    cache: { key: p.key, value: p.value, window: p.window ?? 0, sinks: p.sinks, rotation: configRotation(p) }, calibration,
    model: { nLayers: model.config.nLayers, nKvHeads: model.config.nKvHeads, headDim: model.config.headDim },
    budget, meetsBudget: ok.length > 0, reason,
    measured: { ctx, windows: base.windows, tokens: base.predicted, fp32Perplexity: base.perplexity, amortize, candidates },
  };
}

function configRotation(p: CodecPairing): TuneRotation | null {
  return p.rotate ? { key: p.rotate.key, value: p.rotate.value, seed: rotationSeed(p) } : null;
}

/** The text of a tune config file (JSON) checked by parseTuneConfig; not JSON: CORRUPT_DATA. */
export function loadTuneConfig(text: string, model?: TuneModelShape): TuneConfig {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new KvpackError('CORRUPT_DATA', `not a kvpack tune config (JSON): ${(e as Error).message}`, 'config');
  }
  return parseTuneConfig(x, model);
}

type TuneModelShape = { nLayers: number; nKvHeads: number; headDim: number };

/**
 * Checks a parsed tune config (e.g. JSON.parse of the file) against a model: CORRUPT_DATA /
 * BAD_PARAM naming the field, UNSUPPORTED_VERSION for a later version, UNKNOWN_CODEC /
 * BAD_CALIBRATION from the codecs (decisions.md#D167). Reads versions 1 and 2 and returns
 * version 2 (a version-1 file has no rotation: `rotation: null`). With `model`, every layer's
 * codecs are built from the file's calibration, so a bad one fails here, before a cache holds a
 * token.
 */
export function parseTuneConfig(x: unknown, model?: TuneModelShape): TuneConfig {
  const bad = (m: string, arg: string): never => { throw new KvpackError('CORRUPT_DATA', m, arg); };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(x)) return bad('not a JSON object', 'config');
  const c = x as Partial<Omit<TuneConfig, 'version'>> & { version?: unknown };
  if (c.format !== 'kvpack-tune') bad(`format is ${JSON.stringify(c.format)}, not "kvpack-tune"`, 'format');
  if (c.version !== 1 && c.version !== TUNE_CONFIG_VERSION) {
    // a later kvpack's file: UNSUPPORTED_VERSION (as saved caches); anything else is damage
    const later = Number.isInteger(c.version) && (c.version as number) > TUNE_CONFIG_VERSION;
    throw new KvpackError(later ? 'UNSUPPORTED_VERSION' : 'CORRUPT_DATA',
      `tune config version ${JSON.stringify(c.version)}; this kvpack reads versions 1 to ${TUNE_CONFIG_VERSION}`, 'version');
  }
  if (typeof c.pairing !== 'string') bad('pairing is not a string', 'pairing');
  const p = parsePairing(c.pairing!);
  const cache = c.cache;
  if (!isObject(cache) || cache.key !== p.key || cache.value !== p.value || cache.window !== (p.window ?? 0) || cache.sinks !== p.sinks) {
    bad(`cache ${JSON.stringify(cache)} does not match pairing '${c.pairing}'`, 'cache');
  }
  let rotation: TuneRotation | null = null;
  if (c.version === 1) {
    // version 1 predates rotation: tune never wrote a rotated pairing there
    if ('rotation' in cache! || p.rotate) bad(`version 1 configs have no rotation; '${c.pairing}' rotates`, 'cache.rotation');
  } else {
    const r = (cache as Record<string, unknown>).rotation;
    if (r !== null) {
      const o = isObject(r) ? r : {};
      if (!isObject(r) || typeof o.key !== 'boolean' || typeof o.value !== 'boolean' ||
        !(Number.isInteger(o.seed) && (o.seed as number) >= 0 && (o.seed as number) <= 0xffffffff)) {
        bad(`rotation ${JSON.stringify(r)} is not {key: boolean, value: boolean, seed: u32} or null`, 'cache.rotation');
      }
      rotation = { key: o.key as boolean, value: o.value as boolean, seed: o.seed as number };
    }
    const want = p.rotate ?? { key: false, value: false };
    if ((rotation?.key ?? false) !== want.key || (rotation?.value ?? false) !== want.value || (rotation !== null && !p.rotate)) {
      bad(`rotation ${JSON.stringify(r)} does not match pairing '${c.pairing}'`, 'cache.rotation');
    }
  }
  const m = c.model;
  if (!isObject(m) || ![m.nLayers, m.nKvHeads, m.headDim].every((v) => Number.isInteger(v) && (v as number) > 0)) {
    bad(`model ${JSON.stringify(m)} is not {nLayers, nKvHeads, headDim}`, 'model');
  }
  const cal = c.calibration;
  if (!Array.isArray(cal)) return bad('calibration is not an array', 'calibration');
  if (cal.length !== m!.nLayers) bad(`${cal.length} calibration layers, the config's model has ${m!.nLayers}`, 'calibration');
  cal.forEach((e, l) => {
    if (!isObject(e) || !('key' in e) || !('value' in e)) bad(`layer ${l} is not {key, value}`, `calibration[${l}]`);
  });
  const config = { ...c, version: TUNE_CONFIG_VERSION, cache: { ...cache!, rotation } } as TuneConfig;
  if (model) {
    if (m!.nLayers !== model.nLayers || m!.nKvHeads !== model.nKvHeads || m!.headDim !== model.headDim) {
      throw new KvpackError('BAD_PARAM', `config was tuned for ${JSON.stringify(m)}, model is ${JSON.stringify(model)}`, 'config');
    }
    // build every layer's codecs once: a truncated codebook or a calibration of another shape fails now
    const { pairing, calibrator } = tunePairing(config);
    for (let l = 0; l < model.nLayers; l++) {
      const spec = pairingLayerSpec(pairing, model, l, calibrator);
      for (const kind of ['key', 'value'] as const) {
        const s = spec[kind];
        if (typeof s === 'string' && codecInfo(s).calibrate) {
          createCodec(s, { kind, headDim: model.headDim, nKvHeads: model.nKvHeads, calibration: spec.calibration?.[kind] });
        }
      }
    }
  }
  return config;
}

/** The config's calibrations, served to evaluatePerplexity / ModelRunner like a CaptureCalibrator. */
export function tuneCalibrator(config: TuneConfig): LayerCalibrator {
  return {
    forLayer(codec: string, kind: StreamKind, layer: number, _fisher?: boolean, _extra?: Record<string, unknown>, rotation?: number): unknown {
      if (!codecInfo(codec).calibrate) return undefined; // e.g. the fp32 baseline kvpack eval adds
      const want = kind === 'key' ? config.cache.key : config.cache.value;
      if (codec !== want) throw new KvpackError('BAD_CALIBRATION', `config calibrates '${want}' ${kind}s, asked for '${codec}'`, 'codec');
      const r = config.cache.rotation;
      const seed = r?.[kind] ? r.seed : undefined;
      if (rotation !== seed) {
        throw new KvpackError('BAD_CALIBRATION', `config calibrates ${kind}s ${seed === undefined ? 'unrotated' : `rotated with seed ${seed}`}, ` +
          `asked for ${rotation === undefined ? 'unrotated' : `rotation seed ${rotation}`}`, 'rotation');
      }
      const entry = config.calibration[layer];
      if (!entry) throw new KvpackError('BAD_CALIBRATION', `config has no calibration for layer ${layer}`, 'layer');
      const cal = entry[kind];
      return cal === null ? undefined : cal;
    },
  };
}

/**
 * PackedKvCache options of one layer (add nKvHeads and headDim, or pass to ModelRunner's `cache`):
 * rotated streams come as RotatedCodec instances around the calibrated inner codec.
 */
export function tuneCacheSpec(config: TuneConfig, layer: number): LayerCacheSpec {
  const { pairing, calibrator } = tunePairing(config);
  return { window: config.cache.window, ...pairingLayerSpec(pairing, config.model, layer, calibrator) };
}

/** The pairing as `kvpack eval/generate` use it (the rotation seed from the file), with the config's calibrations. */
export function tunePairing(config: TuneConfig): { pairing: CodecPairing; calibrator: LayerCalibrator } {
  const p = parsePairing(config.pairing);
  const r = config.cache.rotation;
  return { pairing: r ? { ...p, rotate: { key: r.key, value: r.value, seed: r.seed } } : p, calibrator: tuneCalibrator(config) };
}
