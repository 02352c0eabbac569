import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { QaqKvCache } from '../../ts/codecs/qaq/cache.js';
import { ModelRunner } from '../../ts/model/forward.js';
import { loadModel } from '../../ts/model/load-model.js';
import { logProb } from '../../ts/model/math.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from '../model/model-paths.js';

// QAQ through the real model harness (ModelRunner builds QaqKvCache via CodecInfo.createCache and
// lets it attend itself). Short: one window of 128 tokens (4 sealed tiles per layer).
requireShared();
const { model, tokenizer } = await loadModel(MODEL_DIR);
const tokens = tokenizeLines(tokenizer, splitText(readFileSync(TEXT_FILE, 'utf8')).evaluation).slice(0, 128);

async function perplexity(runner: ModelRunner): Promise<number> {
  let nll = 0;
  const V = model.config.vocabSize;
  for (let p = 0; p + 1 < tokens.length; p++) {
    const logits = await runner.step([0], [tokens[p]!]);
    nll -= logProb(logits.subarray(0, V), tokens[p + 1]!);
  }
  return Math.exp(nll / (tokens.length - 1));
}

describe('QAQ in the model harness (stories260K, 128 tokens)', () => {
  it('8-bit ceiling within 1% of fp32; QAQ (W=32, bitsMin 4) within 5%, non-uniform, compressed', async () => {
    const fp32 = await perplexity(new ModelRunner(model, { cache: { key: 'fp32', value: 'fp32' } }));
    const ceiling = await perplexity(new ModelRunner(model, {
      cache: { key: 'qaq', value: 'qaq', keyOptions: { bitsMin: 8, bitsMax: 8, outlierRatio: 0 } },
    }));
    expect(Math.abs(ceiling / fp32 - 1)).toBeLessThan(0.01);
    const runner = new ModelRunner(model, { cache: { key: 'qaq', value: 'qaq', keyOptions: { attentionWindow: 32, bitsMin: 4, outlierRatio: 0, targetKeyError: 1e4, targetValueError: 1 } } });
    const qaq = await perplexity(runner);
    expect(Number.isFinite(qaq)).toBe(true);
    // an operating point of bench/quality-qaq.ts that keeps perplexity (bitsMin 4, s = 10)
    expect(qaq / fp32).toBeLessThan(1.05);
    const caches = runner.caches as QaqKvCache[];
    expect(caches[0]).toBeInstanceOf(QaqKvCache);
    const s = caches[0]!.stats();
    expect(s.keyWidthHistogram.filter((c) => c > 0).length + s.valueWidthHistogram.filter((c) => c > 0).length).toBeGreaterThan(2);
    expect(runner.stats().effectiveBits).toBeLessThan(16);
  }, 120_000);
});
