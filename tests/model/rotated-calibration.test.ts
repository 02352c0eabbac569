/**
 * Rotation before calibrated codecs (`cq-4c8b@rk`, `skvq-k2:skvq-v1.5@rk@rv`; docs/decisions.md#D31):
 * the calibration is computed on capture rows rotated like RotatedCodec.encodeTile rotates them,
 * memoized apart from the plain one, and the rotated codec is built from it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { codecInfo, createCodec } from '../../ts/codecs/registry.js';
import { RotatedCodec } from '../../ts/codecs/rotation.js';
import type { StreamCodec } from '../../ts/codecs/types.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';
import { CaptureCalibrator, calibrationKey } from '../../ts/model/calibrate-from-capture.js';
import { captureKvWindows } from '../../ts/model/capture-windows.js';
import { pairingLayerSpec, parsePairing } from '../../ts/model/codec-pairing.js';
import type { ModelConfig } from '../../ts/model/config.js';
import type { KvCapture } from '../../ts/model/kv-capture.js';
import { loadModel } from '../../ts/model/load-model.js';
import { evaluatePerplexity } from '../../ts/model/perplexity.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { wasmWindowEngine } from '../../ts/model/window-engine.js';
import { gaussianKv, outlierKeys } from '../../ts/util/kv-data.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

const d = 64, nKvHeads = 2, nHeads = 6, n = 1024;

/** A capture of one layer with outlier-channel keys (seeded), and the config it matches. */
function syntheticCapture(fisher = false): { cap: KvCapture; config: ModelConfig } {
  const keys = outlierKeys(n, nKvHeads, d, 3), values = gaussianKv(n, nKvHeads, d, 4);
  const layer = {
    queries: gaussianKv(n, nHeads, d, 5), keys, values,
    ...(fisher ? { keysFisher: new Float32Array(keys.length).fill(1), valuesFisher: new Float32Array(keys.length).fill(1) } : {}),
  };
  const cap: KvCapture = {
    nLayers: 1, nTokens: n, nHeads, nKvHeads, headDim: d, tokens: new Uint32Array(n), positions: new Uint32Array(n), layers: [layer],
  };
  return { cap, config: { nLayers: 1, nHeads, nKvHeads, headDim: d } as ModelConfig };
}

/** Mean squared error of `codec` on rows [tokens][nKvHeads][d] (whole tiles, every head). */
function mse(codec: StreamCodec, rows: Float32Array): number {
  const words = new Uint32Array(codec.tileWords), x = new Float32Array(TILE_TOKENS * d), y = new Float32Array(x.length);
  let sum = 0, count = 0;
  for (let t0 = 0; t0 + TILE_TOKENS <= rows.length / (nKvHeads * d); t0 += TILE_TOKENS) {
    for (let h = 0; h < nKvHeads; h++) {
      for (let t = 0; t < TILE_TOKENS; t++) x.set(rows.subarray(((t0 + t) * nKvHeads + h) * d, ((t0 + t) * nKvHeads + h + 1) * d), t * d);
      codec.encodeTile(x, h, words);
      codec.decodeTile(words, h, y);
      for (let i = 0; i < x.length; i++) sum += (x[i]! - y[i]!) ** 2;
      count += x.length;
    }
  }
  return sum / count;
}

describe('rotation before calibrated codecs', () => {
  it('parsePairing accepts @rk / @rv on SKVQ and CQ; refuses QAQ and @fisher through a rotation', () => {
    expect(parsePairing('cq-4c8b@rk').rotate).toEqual({ key: true, value: false });
    expect(parsePairing('skvq-k2:skvq-v1.5@w128@s5@g128@rk@rv')).toMatchObject({ rotate: { key: true, value: true }, group: 128, window: 128, sinks: 5 });
    expect(() => parsePairing('qaq@rk')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'codecs' }));
    expect(() => parsePairing('cq-4c8b@rk@fisher')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'codecs' }));
    // @fisher on the stream that is not rotated stays allowed
    expect(parsePairing('q4_0:cq-4c8b@rk@fisher').fisher).toBe(true);
  });

  it('rotated rows are the ones RotatedCodec packs (bit for bit); rotated queries keep every score', () => {
    const { cap, config } = syntheticCapture();
    const cal = new CaptureCalibrator(cap, config);
    const rows = cal.rows('key', 0, 1);
    const rot = new RotatedCodec(createCodec('fp32', { kind: 'key', headDim: d, nKvHeads }), 1);
    const x = new Float32Array(TILE_TOKENS * d), words = new Uint32Array(rot.tileWords);
    for (let t = 0; t < TILE_TOKENS; t++) x.set(cap.layers[0]!.keys.subarray((t * nKvHeads + 1) * d, (t * nKvHeads + 2) * d), t * d);
    rot.encodeTile(x, 1, words); // fp32 words: the rotated floats as stored
    const stored = new Float32Array(words.buffer);
    for (let t = 0; t < TILE_TOKENS; t++) {
      expect(Array.from(stored.subarray(t * d, (t + 1) * d))).toEqual(Array.from(rows.data.subarray((t * nKvHeads + 1) * d, (t * nKvHeads + 2) * d)));
    }
    // values: the queries are not rotated; keys: R_h q against R_h k, query head g of KV head g / 3
    expect(cal.rows('value', 0, 1).queries).toBe(cap.layers[0]!.queries);
    const L = cap.layers[0]!;
    let worst = 0;
    for (const [t, s, g] of [[0, 0, 0], [5, 9, 4], [700, 3, 5]] as const) {
      const dot = (a: Float32Array, ao: number, b: Float32Array, bo: number): number => {
        let sum = 0;
        for (let i = 0; i < d; i++) sum += a[ao + i]! * b[bo + i]!;
        return sum;
      };
      const h = Math.floor(g / (nHeads / nKvHeads));
      const plain = dot(L.queries, (t * nHeads + g) * d, L.keys, (s * nKvHeads + h) * d);
      const rotated = dot(rows.queries, (t * nHeads + g) * d, rows.data, (s * nKvHeads + h) * d);
      worst = Math.max(worst, Math.abs(plain - rotated) / Math.max(1, Math.abs(plain)));
    }
    expect(worst).toBeLessThan(1e-5); // f32 rounding of two 64-point transforms
  });

  it('rotated and plain calibrations are memoized apart; plain keys keep their old form', () => {
    const { cap, config } = syntheticCapture();
    const cal = new CaptureCalibrator(cap, config);
    const plain = cal.forLayer('skvq-k2', 'key', 0, false, { groupSize: 64 });
    const rotated = cal.forLayer('skvq-k2', 'key', 0, false, { groupSize: 64 }, 1);
    expect(rotated).not.toBe(plain);
    expect(JSON.stringify(rotated)).not.toBe(JSON.stringify(plain));
    expect(cal.forLayer('skvq-k2', 'key', 0, false, { groupSize: 64 }, 1)).toBe(rotated);
    expect(cal.forLayer('skvq-k2', 'key', 0, false, { groupSize: 64 })).toBe(plain);
    expect(calibrationKey('skvq-k2', 'key', 0, false, { groupSize: 64 })).toBe('skvq-k2/key/0/false/{"groupSize":64}');
    expect(calibrationKey('skvq-k2', 'key', 0, false, { groupSize: 64 }, 1)).toBe('skvq-k2/key/0/false/{"groupSize":64}/rot1');
    expect(() => cal.forLayer('skvq-k2', 'key', 0, false, {}, -1)).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'rotation' }));
  });

  it('pairingLayerSpec builds the rotated codec from the rotated calibration: CQ keys fit the rotated rows', () => {
    const { cap, config } = syntheticCapture();
    const cal = new CaptureCalibrator(cap, config);
    const spec = pairingLayerSpec(parsePairing('cq-4c8b@rk'), config, 0, cal);
    const key = spec.key as RotatedCodec;
    expect(key).toBeInstanceOf(RotatedCodec);
    expect(key.inner.calibration).toBe(cal.forLayer('cq-4c8b', 'key', 0, false, {}, 1));
    expect(spec.value).toBe('cq-4c8b');
    // the same rotation around a codebook fitted to the unrotated rows: the codebook does not
    // match what it codes (outlier keys become dense after rotation)
    const mismatched = new RotatedCodec(createCodec('cq-4c8b', { kind: 'key', headDim: d, nKvHeads, calibration: cal.forLayer('cq-4c8b', 'key', 0) }), 1);
    const keys = cap.layers[0]!.keys;
    const good = mse(key, keys), bad = mse(mismatched, keys);
    expect(good).toBeLessThan(bad / 2);
  });

  it('Fisher weights do not carry through a rotation: BAD_CALIBRATION before calibrating', () => {
    const { cap, config } = syntheticCapture(true);
    const cal = new CaptureCalibrator(cap, config);
    expect(() => cal.forLayer('cq-4c8b', 'key', 0, true, {}, 1)).toThrow(expect.objectContaining({ code: 'BAD_CALIBRATION', arg: 'fisher' }));
    expect(cal.forLayer('cq-4c8b', 'key', 0, true)).toBeDefined();
  });

  it('stories260K: a rotated calibrated pairing scores the same in whole-window and step-by-step evaluation, and differs from the plain one', async () => {
    requireShared();
    const tiny = await loadModel(MODEL_DIR);
    const split = splitText(readFileSync(TEXT_FILE, 'utf8'));
    const tokens = tokenizeLines(tiny.tokenizer, split.evaluation);
    const wasm = await wasmWindowEngine();
    const cap = await captureKvWindows(tiny.model, tokenizeLines(tiny.tokenizer, split.calibration).slice(0, 256), { engine: wasm });
    const calibrator = new CaptureCalibrator(cap, tiny.model.config);
    const o = { ctx: 150, maxWindows: 1, calibrator };
    const spec = parsePairing('skvq-k2:skvq-v1.5@w32@s5@rk@rv');
    const step = await evaluatePerplexity(tiny.model, tokens, spec, { ...o, mode: 'step' });
    const win = await evaluatePerplexity(tiny.model, tokens, spec, { ...o, mode: 'window', engine: wasm });
    expect(Math.abs(win.nll - step.nll)).toBeLessThan(1e-5); // the bar of tests/model/window-eval.test.ts
    const plain = await evaluatePerplexity(tiny.model, tokens, parsePairing('skvq-k2:skvq-v1.5@w32@s5'), { ...o, mode: 'window', engine: wasm });
    expect(plain.nll).not.toBe(win.nll);
    expect(codecInfo('skvq-k2').needsCalibration).toBe(true);
  }, 120_000);
});
