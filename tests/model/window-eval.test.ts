import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { CaptureCalibrator } from '../../ts/model/calibrate-from-capture.js';
import { captureKv } from '../../ts/model/capture.js';
import { captureKvWindows } from '../../ts/model/capture-windows.js';
import { parsePairing } from '../../ts/model/codec-pairing.js';
import { ModelRunner } from '../../ts/model/forward.js';
import { loadModel } from '../../ts/model/load-model.js';
import { evaluatePerplexity } from '../../ts/model/perplexity.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { defaultWindowEngine, tsWindowEngine, wasmWindowEngine } from '../../ts/model/window-engine.js';
import { windowNll } from '../../ts/model/window-forward.js';
import { MODEL_DIR, requireShared, SHARED, TEXT_FILE } from './model-paths.js';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { TILE_TOKENS } from '../../ts/format/constants.js';

requireShared();
const tiny = await loadModel(MODEL_DIR);
const split = splitText(readFileSync(TEXT_FILE, 'utf8'));
const tinyTokens = tokenizeLines(tiny.tokenizer, split.evaluation);
const wasm = await wasmWindowEngine();

// The fast path must score what step-by-step decoding scores: same cache content at every step.
// 1e-5 nats (the bar) leaves room for the attention's different summation order only;
// a wrong seal point or a sink read as a tile moves the NLL by 1e-3 or more at these lengths.
const TOL = 1e-5;

describe('whole-window evaluation equals step-by-step decoding', () => {
  // ctx 150 = 4 tiles + 22 tail tokens without sinks; windows and sinks move every seal point
  const SPECS = ['kivi2', 'q4_0', 'kivi2@w32@s4', 'kivi4@w50@s3', 'kivi2:q4_0@w7@s1'];
  for (const spec of SPECS) {
    it(`${spec}: TS and WASM engines within ${TOL} of the step path (stories260K, ctx 150)`, async () => {
      const o = { ctx: 150, maxWindows: 1 };
      const step = await evaluatePerplexity(tiny.model, tinyTokens, parsePairing(spec), { ...o, mode: 'step' });
      for (const engine of [tsWindowEngine, wasm]) {
        const win = await evaluatePerplexity(tiny.model, tinyTokens, parsePairing(spec), { ...o, mode: 'window', engine });
        expect(win.mode).toBe('window');
        expect(Math.abs(win.nll - step.nll)).toBeLessThan(TOL);
        expect(win.predicted).toBe(step.predicted);
        expect(win.cache.effectiveBits).toBe(step.cache.effectiveBits);
      }
    });
  }

  it('calibrated codecs (SKVQ with window and sinks) too', async () => {
    const cap = await captureKvWindows(tiny.model, tokenizeLines(tiny.tokenizer, split.calibration).slice(0, 256), { engine: wasm });
    const calibrator = new CaptureCalibrator(cap, tiny.model.config);
    const o = { ctx: 150, maxWindows: 1, calibrator };
    const spec = parsePairing('skvq-k2:skvq-v1.5@w32@s5');
    const step = await evaluatePerplexity(tiny.model, tinyTokens, spec, { ...o, mode: 'step' });
    const win = await evaluatePerplexity(tiny.model, tinyTokens, spec, { ...o, mode: 'window', engine: wasm });
    expect(Math.abs(win.nll - step.nll)).toBeLessThan(TOL);
  });

  it('the realistic model (head_dim 64, GQA 6/2): kivi2 with window and sinks', async () => {
    const big = await loadModel(join(SHARED, 'models', 'gutenberg-bytes-9M'));
    const text = readFileSync(join(SHARED, 'data', 'gutenberg', 'frankenstein.txt'), 'utf8').split('\n').filter((l) => l.trim());
    const tokens = tokenizeLines(big.tokenizer, text.slice(0, 40));
    for (const spec of ['kivi2@w16@s2']) {
      const o = { ctx: 70, maxWindows: 1 };
      const step = await evaluatePerplexity(big.model, tokens, parsePairing(spec), { ...o, mode: 'step' });
      const win = await evaluatePerplexity(big.model, tokens, parsePairing(spec), { ...o, mode: 'window', engine: wasm });
      expect(Math.abs(win.nll - step.nll)).toBeLessThan(TOL);
    }
  }, 300_000); // loads a 39 MB checkpoint and decodes step by step: slow on a loaded 2-core machine

  it('captureKvWindows records what captureKv does (layer 0 bit for bit; later layers follow the attention\'s rounding)', async () => {
    const toks = tinyTokens.slice(0, 70);
    const a = await captureKv(tiny.model, toks, { window: 40 });
    for (const engine of [tsWindowEngine, wasm]) {
      const b = await captureKvWindows(tiny.model, toks, { window: 40, engine });
      expect(b.nTokens).toBe(70);
      expect([...b.positions]).toEqual([...a.positions]);
      expect(b.layers[0]!.keys).toEqual(a.layers[0]!.keys);
      expect(b.layers[0]!.values).toEqual(a.layers[0]!.values);
      expect(b.layers[0]!.queries).toEqual(a.layers[0]!.queries);
      for (let l = 1; l < a.nLayers; l++) {
        for (const f of ['queries', 'keys', 'values'] as const) {
          const x = b.layers[l]![f], y = a.layers[l]![f];
          const d = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
          expect(d).toBeLessThan(1e-4); // |values| ~ 1-20: f32 rounding of a different summation order
        }
      }
    }
  });

  // QAQ chooses each token's widths at its tile's seal from the weights the last 32 queries gave
  // it: the window path must feed the cache the rows before each seal step, no more, no fewer.
  // ctx 150 with the default window 32 seals at steps 63, 95, 127; @w16 at 47, 79, 111, 143 (and
  // seals tokens not yet seen by 32 queries: bitsMax); @w40 at 71, 103, 135.
  for (const spec of ['qaq', 'qaq@w16', 'qaq@w40']) {
    it(`${spec} (widths from attention): mode auto takes the window path, within ${TOL} of the step path on the WASM engine, same bits (stories260K, ctx 150)`, async () => {
      const o = { ctx: 150, maxWindows: 1 };
      const step = await evaluatePerplexity(tiny.model, tinyTokens, parsePairing(spec), { ...o, mode: 'step' });
      // TS engine: same widths on every layer (next test), but qaq@w16 is 2.3e-5 nats off: its
      // f32 rounding of the attention flips a few codes of layers 3-4 (decisions.md#D121, where
      // kivi2 at ctx 1024 was 1.2e-4 off on this engine); the default WASM engine meets 1e-5
      for (const [engine, tol] of [[tsWindowEngine, 1e-4], [wasm, TOL]] as const) {
        const win = await evaluatePerplexity(tiny.model, tinyTokens, parsePairing(spec), { ...o, engine });
        expect(win.mode).toBe('window');
        expect(Math.abs(win.nll - step.nll)).toBeLessThan(tol);
        expect(win.cache.effectiveBits).toBe(step.cache.effectiveBits);
      }
    });
  }

  for (const spec of ['qaq', 'qaq@w16']) {
    it(`${spec}: every layer's widths and layer 0's records equal the step path's; weights one block late change them`, async () => {
      const ctx = 150, toks = tinyTokens.slice(0, ctx), c = tiny.model.config, p = parsePairing(spec);
      const opts = { nKvHeads: c.nKvHeads, headDim: c.headDim, ...(p.window !== undefined ? { window: p.window } : {}) };
      const stepRunner = new ModelRunner(tiny.model, { caches: Array.from({ length: c.nLayers }, () => new QaqKvCache(opts)), cache: { key: 'qaq', value: 'qaq' } });
      for (let i = 0; i < ctx; i++) await stepRunner.step([0], [toks[i]!]);
      const windowRun = (make: () => QaqKvCache, engine: typeof wasm): ModelRunner => {
        const runner = new ModelRunner(tiny.model, { caches: Array.from({ length: c.nLayers }, make), cache: { key: 'qaq', value: 'qaq' } });
        windowNll(runner, 0, toks, engine);
        return runner;
      };
      const widths = (r: ModelRunner): number[][] => r.caches.map((k) => {
        const s = (k as QaqKvCache).stats();
        return [...s.keyWidthHistogram, ...s.valueWidthHistogram];
      });
      const stepWidths = widths(stepRunner), stepWords = recordWords(stepRunner.caches[0] as QaqKvCache);
      // the widths depend on the weights here: layer 0 uses widths between bitsMin (4) and bitsMax (8)
      expect(stepWidths[0]!.filter((n, i) => n > 0 && i % 9 > 4 && i % 9 < 8).length).toBeGreaterThan(2);
      for (const engine of [tsWindowEngine, wasm]) {
        const good = windowRun(() => new QaqKvCache(opts), engine);
        expect(widths(good)).toEqual(stepWidths);
        // layer 0's keys and values are the same bits on both paths (D121), so its records are too
        expect(recordWords(good.caches[0] as QaqKvCache)).toEqual(stepWords);
      }
      const late = windowRun(() => new LateQaq(opts), wasm);
      expect(widths(late)[0]).not.toEqual(stepWidths[0]);
      expect(recordWords(late.caches[0] as QaqKvCache)).not.toEqual(stepWords);
    });
  }

  it('QAQ on the realistic model (head_dim 64, GQA 6/2, a record group per KV head): window within 1e-5 of step, ctx 200', async () => {
    const big = await loadModel(join(SHARED, 'models', 'gutenberg-bytes-9M'));
    const text = readFileSync(join(SHARED, 'data', 'gutenberg', 'frankenstein.txt'), 'utf8').split('\n').filter((l) => l.trim());
    const tokens = tokenizeLines(big.tokenizer, text.slice(0, 100));
    const o = { ctx: 200, maxWindows: 1 }; // seals at steps 63, 95, 127, 159, 191
    const step = await evaluatePerplexity(big.model, tokens, parsePairing('qaq'), { ...o, mode: 'step' });
    const win = await evaluatePerplexity(big.model, tokens, parsePairing('qaq'), { ...o, engine: wasm });
    expect(win.mode).toBe('window');
    expect(Math.abs(win.nll - step.nll)).toBeLessThan(TOL);
    expect(win.cache.effectiveBits).toBe(step.cache.effectiveBits);
  }, 300_000);

  it('QaqKvCache.recordAttention validates before recording', () => {
    const cache = new QaqKvCache({ nKvHeads: 2, headDim: 8 }); // level 'layer': one group
    expect(() => cache.recordAttention(0, new Float64Array(1), new Float64Array([-Infinity]))).toThrow(expect.objectContaining({ code: 'UNKNOWN_SEQUENCE' }));
    cache.append(0, new Float32Array(32), new Float32Array(32)); // 2 tokens
    const bad: [Float64Array, Float64Array, string][] = [
      [new Float64Array(3), new Float64Array([-Infinity]), 'weights'],
      [new Float64Array([0.5, NaN]), new Float64Array([-Infinity]), 'weights'],
      [new Float64Array([0.5, -0.1]), new Float64Array([-Infinity]), 'weights'],
      [new Float64Array(2), new Float64Array(2), 'outsideTop'],
      [new Float64Array(2), new Float64Array([0.2]), 'outsideTop'], // nothing sealed yet: -Infinity
    ];
    for (const [w, top, arg] of bad) expect(() => cache.recordAttention(0, w, top)).toThrow(expect.objectContaining({ arg }));
    expect(cache.toLayerData().sequences[0]!.window.rows).toBe(0);
    cache.recordAttention(0, new Float64Array([0.4, 0.6]), new Float64Array([-Infinity]));
    expect(cache.toLayerData().sequences[0]!.window.rows).toBe(1);
  });

  it('windowNll validates before touching the caches, and the default engine is WASM where SIMD exists', async () => {
    const runner = new ModelRunner(tiny.model, { cache: { key: 'kivi2', value: 'kivi2' } });
    expect(() => windowNll(runner, 0, [1])).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'tokens' }));
    expect(() => windowNll(runner, 0, [1, 99999])).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'tokens' }));
    expect(runner.position(0)).toBe(0);
    expect((await defaultWindowEngine()).name).toMatch(/^wasm/);
    const [a] = wasm.arrays([4]);
    expect(() => wasm.gemm(a!, 0, 1, new Float32Array(4), 0, 4, a!, 0, 4, 1, 1, 4)).toThrow(expect.objectContaining({ code: 'BAD_PARAM' }));
  });
});

/** A sequence's offsets and record words, as stored (every page up to what is used). */
function recordWords(cache: QaqKvCache): number[] {
  const s = cache.toLayerData().sequences[0]!;
  const words = s.pages.flatMap((p, i) => [...p.subarray(0, i === s.pages.length - 1 ? s.pageUsed : p.length)]);
  return [...s.offsets, ...words];
}

/**
 * The bug the window path must not have: each row's weights reach the cache one block (32 rows)
 * late, mapped onto the tail the cache holds now (tokens the old row did not see get 0).
 */
class LateQaq extends QaqKvCache {
  private readonly past: { base: number; nt: number; w: Float64Array; top: Float64Array }[] = [];

  override recordAttention(seq: number, weights: Float64Array, outsideTop: Float64Array): void {
    const v = this.view(seq), base = v.tiles * TILE_TOKENS, nt = v.tailCount, u = this.groups;
    this.past.push({ base, nt, w: weights.slice(), top: outsideTop.slice() });
    const old = this.past.length > TILE_TOKENS ? this.past[this.past.length - 1 - TILE_TOKENS]! : undefined;
    const w = new Float64Array(u * nt), top = new Float64Array(u).fill(v.tiles ? 0 : -Infinity);
    for (let g = 0; old && g < u; g++) {
      for (let t = 0; t < nt; t++) {
        const j = base + t - old.base;
        if (j < old.nt) w[g * nt + t] = old.w[g * old.nt + j]!;
      }
      if (v.tiles) top[g] = Math.max(0, old.top[g]!);
    }
    super.recordAttention(seq, w, top);
  }
}
