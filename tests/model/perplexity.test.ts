import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { listCodecs } from '../../ts/codecs/registry.js';
import { CaptureCalibrator } from '../../ts/model/calibrate-from-capture.js';
import { captureKv } from '../../ts/model/capture.js';
import { defaultPairings, parsePairing } from '../../ts/model/codec-pairing.js';
import { loadModel } from '../../ts/model/load-model.js';
import { paretoFront, paretoSvg } from '../../ts/model/pareto-svg.js';
import { evaluatePerplexity, type PerplexityResult } from '../../ts/model/perplexity.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

requireShared();
const { model, tokenizer } = await loadModel(MODEL_DIR);
const split = splitText(readFileSync(TEXT_FILE, 'utf8'));
const evalTokens = tokenizeLines(tokenizer, split.evaluation);
// Short on purpose (CI on 2 cores): 2 windows of 128 tokens, 254 predictions; 4 tiles per
// window get packed, so every codec's quantized tiles are attended by most predictions.
const OPTS = { ctx: 128, maxWindows: 2, batch: 2 };
const BASELINES = ['fp32', 'fp16', 'q8_0', 'q4_0', 'kivi2', 'kivi4', 'kivi8'];

describe('perplexity per codec on the real model (ctx 128, 2 windows)', () => {
  const results = new Map<string, PerplexityResult>();
  it('every baseline codec gives a finite perplexity, ordered sensibly against fp32', async () => {
    for (const c of BASELINES) results.set(c, await evaluatePerplexity(model, evalTokens, parsePairing(c), OPTS));
    const ppl = (c: string): number => results.get(c)!.perplexity;
    for (const c of BASELINES) {
      expect(Number.isFinite(ppl(c))).toBe(true);
      expect(results.get(c)!.predicted).toBe(2 * 127);
    }
    // fp32 on this model is near 4.6-4.9 on TinyStories text; a broken model would be ~512 (uniform)
    expect(ppl('fp32')).toBeGreaterThan(2);
    expect(ppl('fp32')).toBeLessThan(8);
    expect(Math.abs(ppl('fp16') / ppl('fp32') - 1)).toBeLessThan(0.001);
    expect(Math.abs(ppl('q8_0') / ppl('fp32') - 1)).toBeLessThan(0.005); // the bar
    expect(Math.abs(ppl('kivi8') / ppl('fp32') - 1)).toBeLessThan(0.005);
    expect(ppl('kivi2')).toBeGreaterThan(ppl('kivi4'));
    expect(ppl('q4_0')).toBeGreaterThan(ppl('q8_0'));
    // accounting: fp32 = 32 bits, q8_0 = 8.5 (no fp region: 128 tokens = 4 whole tiles), kivi2 = (3 + 6) / 2 at head_dim 8
    expect(results.get('fp32')!.cache.effectiveBits).toBe(32);
    expect(results.get('q8_0')!.cache.effectiveBits).toBeCloseTo(8.5, 10);
    expect(results.get('kivi2')!.cache.effectiveBits).toBeCloseTo(4.5, 10);
    expect(results.get('q4_0')!.compressionVsFp16).toBeCloseTo(16 / 4.5, 10);
  });

  it('windows decoded as one batch score exactly as when decoded alone', async () => {
    const alone = await evaluatePerplexity(model, evalTokens, parsePairing('kivi2'), { ...OPTS, batch: 1 });
    expect(alone.nll).toBeCloseTo(results.get('kivi2')!.nll, 12);
  });

  it('an fp32 window and sinks move the accounting and help 2-bit keys', async () => {
    const w = await evaluatePerplexity(model, evalTokens, parsePairing('kivi2@w32@s4'), OPTS);
    expect(w.cache.fpTokens).toBe(4 + 32 + 28); // 4 sinks, then 124 tokens: 2 tiles packed, 60 in the tail (>= window)
    expect(w.cache.effectiveBits).toBeGreaterThan(results.get('kivi2')!.cache.effectiveBits);
    expect(w.perplexity).toBeLessThan(results.get('kivi2')!.perplexity);
  });

  it('calibrated codecs take their calibration from a capture of the calibration split', async () => {
    const needs = listCodecs().filter((c) => c.needsCalibration);
    expect(needs.length).toBeGreaterThan(0);
    const name = needs[0]!.streams.includes('value') ? needs[0]!.name : defaultPairings().find((p) => p.startsWith(needs[0]!.name + ':'))!;
    const pairing = parsePairing(name);
    await expect(evaluatePerplexity(model, evalTokens, pairing, OPTS)).rejects.toMatchObject({ code: 'BAD_CALIBRATION', arg: 'calibrator' });
    const cap = await captureKv(model, tokenizeLines(tokenizer, split.calibration).slice(0, 512));
    const r = await evaluatePerplexity(model, evalTokens, pairing, { ...OPTS, maxWindows: 1, calibrator: new CaptureCalibrator(cap, model.config) });
    expect(Number.isFinite(r.perplexity)).toBe(true);
    expect(r.perplexity).toBeLessThan(50);
  });

  it('codecs that build their own cache (CodecInfo.createCache, e.g. QAQ) run through the same harness', async () => {
    const own = listCodecs().find((c) => c.createCache);
    expect(own).toBeDefined();
    const r = await evaluatePerplexity(model, evalTokens, parsePairing(own!.name), { ...OPTS, maxWindows: 1 });
    expect(Number.isFinite(r.perplexity)).toBe(true);
    expect(r.perplexity / results.get('fp32')!.perplexity).toBeLessThan(1.5);
    expect(r.cache.effectiveBits).toBeGreaterThan(0);
    expect(r.cache.effectiveBits).toBeLessThan(32);
    // one cache codes both streams: pairing it with another codec is refused before any work
    await expect(evaluatePerplexity(model, evalTokens, parsePairing(`${own!.name}:kivi2`), OPTS))
      .rejects.toMatchObject({ code: 'BAD_PARAM', arg: 'codec' });
  });

  it('bad pairings and contexts are typed errors before any work', async () => {
    expect(() => parsePairing('nope')).toThrow(expect.objectContaining({ code: 'UNKNOWN_CODEC' }));
    expect(() => parsePairing('kivi2@x3')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'codecs' }));
    expect(() => parsePairing('a:b:c')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'codecs' }));
    expect(() => parsePairing('q8_0@fisher')).toThrow(/@fisher needs a codec that calibrates/);
    expect(parsePairing('kivi2@w32@s4')).toMatchObject({ key: 'kivi2', value: 'kivi2', window: 32, sinks: 4 });
    const keyOnly = listCodecs().find((c) => c.streams.length === 1 && c.streams[0] === 'key');
    if (keyOnly) expect(() => parsePairing(keyOnly.name)).toThrow(/cannot code values/);
    await expect(evaluatePerplexity(model, evalTokens, parsePairing('fp32'), { ctx: 1024 })).rejects.toMatchObject({ code: 'BAD_PARAM', arg: 'ctx' });
    await expect(evaluatePerplexity(model, evalTokens.slice(0, 50), parsePairing('fp32'), { ctx: 64 })).rejects.toMatchObject({ code: 'BAD_PARAM', arg: 'tokens' });
    expect(defaultPairings()[0]).toBe('fp32');
  });

  it('the SVG plots every point and the Pareto front', () => {
    const pts = [...results.values()].map((r) => ({ label: r.label, bits: r.cache.effectiveBits, perplexity: r.perplexity }));
    const front = paretoFront(pts);
    expect(front.map((p) => p.label)).toContain('kivi2'); // fewest bits
    expect(front.map((p) => p.label)).not.toContain('fp32'); // fp16 has the same quality at half the bits
    const svg = paretoSvg(pts, 'test <plot>', results.get('fp32')!.perplexity);
    expect(svg.match(/<circle /g)!.length + (svg.match(/off scale/g) ?? []).length).toBe(pts.length);
    expect(svg).toContain('test &lt;plot&gt;');
  });
});
