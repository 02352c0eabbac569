import { codecInfo } from '../codecs/registry.js';
import type { StreamKind } from '../codecs/types.js';
import { check, KvpackError } from '../errors.js';
import type { LayerCalibrator } from './calibrate-from-capture.js';
import { parsePairing, type CodecPairing } from './codec-pairing.js';
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
 * them (QAQ builds its own cache and decodes step by step: too slow for a quick calibration run).
 */
export const TUNE_CANDIDATES: readonly string[] = [
  'q8_0', 'kivi8', 'q4_0', 'kivi4', 'kivi4@w32', 'kivi2', 'kivi2@w32', 'kivi2@w128', 'kivi2@w128@s5',
  'skvq-k4:skvq-v2@w128@s5@g128', 'skvq-k2:skvq-v2@w128@s5@g128', 'skvq-k2:skvq-v1.5@w128@s5@g128', 'skvq-k2:skvq-v1.5@w32@s5@g128',
  'cq-2c8b', 'cq-4c9b', 'cq-4c8b', 'cq-4c8b@w32', 'cq-4c8b:cq-8c8b', 'cq-8c10b', 'cq-8c10b:cq-8c8b', 'cq-8c8b@w32', 'cq-8c8b',
];

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

/** The file `kvpack tune --out` writes and `kvpack eval/generate --config` read. JSON-safe. */
export interface TuneConfig {
  format: 'kvpack-tune';
  version: 1;
  /** The chosen pairing as `kvpack eval --codecs` writes it. */
  pairing: string;
  /** PackedKvCache options (ts/cache/kv-cache.ts CacheOptions) but shapes and calibration. */
  cache: { key: string; value: string; window: number; sinks: number };
  /** Per layer, the calibration objects of the chosen codecs (null when a codec needs none). */
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
  const pairings = (opts.candidates ?? TUNE_CANDIDATES).map(parsePairing); // bad names fail before any work
  check(pairings.length > 0, 'BAD_PARAM', 'no candidates', 'candidates');
  for (const p of pairings) {
    if (p.rotate || codecInfo(p.key).createCache || codecInfo(p.value).createCache) {
      throw new KvpackError('BAD_PARAM', `'${p.label}': tune measures tiled codecs without rotation (their config is plain cache options)`, 'candidates');
    }
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
  const group = p.group !== undefined ? { groupSize: p.group } : {};
  const calibration = Array.from({ length: model.config.nLayers }, (_, l) => ({
    key: opts.calibrator?.forLayer(p.key, 'key', l, p.fisher, group) ?? null,
    value: opts.calibrator?.forLayer(p.value, 'value', l, p.fisher, group) ?? null,
  }));
  return {
    format: 'kvpack-tune', version: 1, pairing: p.label,
    cache: { key: p.key, value: p.value, window: p.window ?? 0, sinks: p.sinks }, calibration,
    model: { nLayers: model.config.nLayers, nKvHeads: model.config.nKvHeads, headDim: model.config.headDim },
    budget, meetsBudget: ok.length > 0, reason,
    measured: { ctx, windows: base.windows, tokens: base.predicted, fp32Perplexity: base.perplexity, amortize, candidates },
  };
}

/** Checks a parsed tune config (e.g. JSON.parse of the file) against a model: CORRUPT_DATA / BAD_PARAM naming the field. */
export function parseTuneConfig(x: unknown, model?: { nLayers: number; nKvHeads: number; headDim: number }): TuneConfig {
  const bad = (m: string, arg: string): never => { throw new KvpackError('CORRUPT_DATA', m, arg); };
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad('not a JSON object', 'config');
  const c = x as Partial<TuneConfig>;
  if (c.format !== 'kvpack-tune') bad(`format is ${JSON.stringify(c.format)}, not "kvpack-tune"`, 'format');
  if (c.version !== 1) bad(`version ${JSON.stringify(c.version)} is not 1`, 'version');
  if (typeof c.pairing !== 'string') bad('pairing is not a string', 'pairing');
  const p = parsePairing(c.pairing!);
  const cache = c.cache;
  if (!cache || cache.key !== p.key || cache.value !== p.value || cache.window !== (p.window ?? 0) || cache.sinks !== p.sinks) {
    bad(`cache ${JSON.stringify(cache)} does not match pairing '${c.pairing}'`, 'cache');
  }
  if (!Array.isArray(c.calibration)) bad('calibration is not an array', 'calibration');
  if (model) {
    const m = c.model;
    if (!m || m.nLayers !== model.nLayers || m.nKvHeads !== model.nKvHeads || m.headDim !== model.headDim) {
      throw new KvpackError('BAD_PARAM', `config was tuned for ${JSON.stringify(m)}, model is ${JSON.stringify(model)}`, 'config');
    }
    if (c.calibration!.length !== model.nLayers) bad(`${c.calibration!.length} calibration layers, model has ${model.nLayers}`, 'calibration');
  }
  return c as TuneConfig;
}

/** The config's calibrations, served to evaluatePerplexity / ModelRunner like a CaptureCalibrator. */
export function tuneCalibrator(config: TuneConfig): LayerCalibrator {
  return {
    forLayer(codec: string, kind: StreamKind, layer: number): unknown {
      if (!codecInfo(codec).calibrate) return undefined; // e.g. the fp32 baseline kvpack eval adds
      const want = kind === 'key' ? config.cache.key : config.cache.value;
      if (codec !== want) throw new KvpackError('BAD_CALIBRATION', `config calibrates '${want}' ${kind}s, asked for '${codec}'`, 'codec');
      const entry = config.calibration[layer];
      if (!entry) throw new KvpackError('BAD_CALIBRATION', `config has no calibration for layer ${layer}`, 'layer');
      const cal = entry[kind];
      return cal === null ? undefined : cal;
    },
  };
}

/** PackedKvCache options of one layer (add nKvHeads and headDim, or pass to ModelRunner's `cache`). */
export function tuneCacheSpec(config: TuneConfig, layer: number): LayerCacheSpec {
  const cal = tuneCalibrator(config);
  return {
    key: config.cache.key, value: config.cache.value, window: config.cache.window, sinks: config.cache.sinks,
    calibration: { key: cal.forLayer(config.cache.key, 'key', layer), value: cal.forLayer(config.cache.value, 'value', layer) },
  };
}

/** The pairing as `kvpack eval/generate` use it, with the config's calibrations. */
export function tunePairing(config: TuneConfig): { pairing: CodecPairing; calibrator: LayerCalibrator } {
  return { pairing: parsePairing(config.pairing), calibrator: tuneCalibrator(config) };
}
