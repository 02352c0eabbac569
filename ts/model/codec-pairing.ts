import { codecInfo, createCodec, listCodecs } from '../codecs/registry.js';
import { RotatedCodec } from '../codecs/rotation.js';
import type { StreamCodec } from '../codecs/types.js';
import { KvpackError } from '../errors.js';
import type { LayerCalibrator } from './calibrate-from-capture.js';
import type { LayerCacheSpec } from './forward.js';

/** One cache configuration evaluated as a row: key codec, value codec, fp32 window and sinks. */
export interface CodecPairing {
  /** The spec as written (table label). */
  label: string;
  key: string;
  value: string;
  /** fp32 recent tokens; undefined = the cache's default (0 for tiled codecs, QAQ: its attention window). */
  window?: number;
  sinks: number;
  /** Calibrate with Fisher weights (squared loss gradients) from the capture: CQ's Fisher-guided k-means. */
  fisher?: boolean;
  /** Calibrated codecs' group size (`@gN`, SKVQ's groupSize: elements per quantization group). */
  group?: number;
  /**
   * Seeded randomized Hadamard rotation before quantization (`@rk` keys, `@rv` values;
   * RotatedCodec); a calibrated codec calibrates on rotated rows. `seed`: the rotation's seed,
   * PAIRING_ROTATION_SEED when absent (parsePairing leaves it out; a `kvpack tune` config sets it).
   */
  rotate?: { key: boolean; value: boolean; seed?: number };
}

/**
 * Parses `KEY[:VALUE][@wN][@sN][@gN][@rk][@rv][@fisher]`: `kivi2` (both streams), `skvq-k2:skvq-v1.5@w128@s5`
 * (SKVQ keys and values, 128 recent tokens and 5 sinks in fp32), `cq-4c8b@fisher` (codebooks
 * from Fisher-weighted k-means). Codec names are checked
 * against the registry (UNKNOWN_CODEC) and their streams (BAD_PARAM) before any work.
 */
export function parsePairing(spec: string): CodecPairing {
  const [codecs, ...mods] = spec.trim().split('@');
  const [key, value = key, extra] = (codecs ?? '').split(':');
  if (!key || !value || extra !== undefined) {
    throw new KvpackError('BAD_PARAM', `'${spec}': expected KEY[:VALUE][@wN][@sN]`, 'codecs');
  }
  let window: number | undefined, sinks = 0, fisher = false, group: number | undefined;
  const rotate = { key: false, value: false };
  for (const m of mods) {
    if (m === 'fisher') { fisher = true; continue; }
    if (m === 'rk' || m === 'rv') { rotate[m === 'rk' ? 'key' : 'value'] = true; continue; }
    const r = /^([wsg])(\d+)$/.exec(m);
    if (!r) throw new KvpackError('BAD_PARAM', `'${spec}': modifier '@${m}' is not @wN (fp32 window), @sN (sinks), @gN (group size), @rk / @rv (rotate keys / values) or @fisher`, 'codecs');
    if (r[1] === 'w') window = Number(r[2]); else if (r[1] === 's') sinks = Number(r[2]); else group = Number(r[2]);
  }
  for (const [name, kind] of [[key, 'key'], [value, 'value']] as const) {
    const info = codecInfo(name);
    if (!info.streams.includes(kind)) {
      const alts = listCodecs().filter((c) => c.streams.includes(kind)).map((c) => c.name);
      throw new KvpackError('BAD_PARAM', `'${spec}': codec '${name}' cannot code ${kind}s; ${kind} codecs: ${alts.join(', ')}`, 'codecs');
    }
  }
  if (fisher && !codecInfo(key).calibrate && !codecInfo(value).calibrate) {
    throw new KvpackError('BAD_PARAM', `'${spec}': @fisher needs a codec that calibrates`, 'codecs');
  }
  if (group !== undefined && !codecInfo(key).calibrate && !codecInfo(value).calibrate) {
    throw new KvpackError('BAD_PARAM', `'${spec}': @g${group} sets a calibrated codec's group size; neither codec calibrates`, 'codecs');
  }
  for (const kind of ['key', 'value'] as const) {
    const info = codecInfo(kind === 'key' ? key : value);
    if (rotate[kind] && info.createCache) {
      throw new KvpackError('BAD_PARAM', `'${spec}': @r${kind[0]} rotates before a tiled codec; '${info.name}' builds its own cache`, 'codecs');
    }
    // decisions.md#D31: the capture keeps squared gradients per model channel, not per rotated one
    if (rotate[kind] && fisher && info.calibrate) {
      throw new KvpackError('BAD_PARAM', `'${spec}': @fisher weights are per model channel and do not carry through @r${kind[0]}`, 'codecs');
    }
  }
  return {
    ...(rotate.key || rotate.value ? { rotate } : {}),
    label: spec.trim(), key, value, ...(window !== undefined ? { window } : {}), sinks, ...(fisher ? { fisher } : {}),
    ...(group !== undefined ? { group } : {}),
  };
}

/** The seed of `@rk` / `@rv` rotations (RotatedCodec's default). */
export const PAIRING_ROTATION_SEED = 1;

/**
 * The calibration objects of one layer for `pairing`, from `calibrator`: a rotated stream's is
 * computed on rows rotated with the pairing's seed (decisions.md#D31). pairingLayerSpec builds
 * the cache from these; `kvpack tune` stores them in its config.
 */
export function pairingCalibration(pairing: CodecPairing, layer: number, calibrator?: LayerCalibrator): { key: unknown; value: unknown } {
  const group = pairing.group !== undefined ? { groupSize: pairing.group } : {};
  const cal = (kind: 'key' | 'value'): unknown => calibrator?.forLayer(pairing[kind], kind, layer, pairing.fisher, group,
    pairing.rotate?.[kind] ? rotationSeed(pairing) : undefined);
  return { key: cal('key'), value: cal('value') };
}

/** The seed of a pairing's `@rk` / `@rv` rotations. */
export function rotationSeed(pairing: CodecPairing): number {
  return pairing.rotate?.seed ?? PAIRING_ROTATION_SEED;
}

/**
 * One layer's cache settings for `pairing` (window, sinks, codecs): rotated streams become a
 * RotatedCodec around the inner codec, built from the calibration `calibrator` computed on rows
 * rotated the same way (decisions.md#D31); other streams stay names with their calibration.
 * The one place evaluation, generation and tune turn a pairing into a cache.
 */
export function pairingLayerSpec(pairing: CodecPairing, shape: { headDim: number; nKvHeads: number }, layer: number,
  calibrator?: LayerCalibrator): LayerCacheSpec {
  const calibration = pairingCalibration(pairing, layer, calibrator);
  const stream = (kind: 'key' | 'value'): string | StreamCodec => pairing.rotate?.[kind]
    ? new RotatedCodec(createCodec(pairing[kind], { kind, headDim: shape.headDim, nKvHeads: shape.nKvHeads, calibration: calibration[kind] }), rotationSeed(pairing))
    : pairing[kind];
  return {
    key: stream('key'), value: stream('value'), sinks: pairing.sinks,
    ...(pairing.window !== undefined ? { window: pairing.window } : {}),
    calibration,
  };
}

/**
 * Every registered codec as a pairing: codecs that code both streams with themselves, and each
 * key-only codec with each value-only codec of the same family (the name before the first '-',
 * e.g. skvq-k2:skvq-v1.5). fp32 comes first: it is the baseline the deltas refer to.
 */
export function defaultPairings(): string[] {
  const all = listCodecs();
  const both = all.filter((c) => c.streams.includes('key') && c.streams.includes('value')).map((c) => c.name);
  const family = (n: string): string => n.split('-')[0]!;
  const keyOnly = all.filter((c) => c.streams.length === 1 && c.streams[0] === 'key');
  const valueOnly = all.filter((c) => c.streams.length === 1 && c.streams[0] === 'value');
  const mixed = keyOnly.flatMap((k) => valueOnly.filter((v) => family(v.name) === family(k.name)).map((v) => `${k.name}:${v.name}`));
  const specs = [...both, ...mixed];
  return ['fp32', ...specs.filter((s) => s !== 'fp32')];
}
