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

  it('QAQ (attention-dependent widths) stays on the step path; asking for window mode is refused', async () => {
    const r = await evaluatePerplexity(tiny.model, tinyTokens, parsePairing('qaq'), { ctx: 40, maxWindows: 1 });
    expect(r.mode).toBe('step');
    await expect(evaluatePerplexity(tiny.model, tinyTokens, parsePairing('qaq'), { ctx: 40, maxWindows: 1, mode: 'window' }))
      .rejects.toMatchObject({ code: 'BAD_PARAM', arg: 'mode' });
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
