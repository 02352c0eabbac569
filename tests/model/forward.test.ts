import type { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/fp32/index.js';
import { loadModel } from '../../ts/model/load-model.js';
import { denseForward } from '../../ts/model/dense-reference.js';
import { ModelRunner } from '../../ts/model/forward.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';
import { readFileSync } from 'node:fs';

describe('forward pass over a kvpack cache (stories260K)', () => {
  it('fp32 cache path reproduces the dense reference logits', async () => {
    requireShared();
    const { model, tokenizer } = await loadModel(MODEL_DIR);
    const text = readFileSync(TEXT_FILE, 'utf8').split('\n')[3]!;
    // 80 tokens: two sealed tiles (32 each) plus a 16-token fp32 tail, so tiles, pages and tail all take part.
    const tokens = tokenizer.encode(text).slice(0, 80);
    const dense = denseForward(model, tokens);
    const runner = new ModelRunner(model, { cache: { key: 'fp32', value: 'fp32' } });
    const logits = await runner.prefill(0, tokens);
    const V = model.config.vocabSize;
    let maxErr = 0, maxMag = 0;
    for (let p = 0; p < tokens.length; p++) {
      for (let i = 0; i < V; i++) {
        maxErr = Math.max(maxErr, Math.abs(logits[p * V + i]! - dense[p]![i]!));
        maxMag = Math.max(maxMag, Math.abs(dense[p]![i]!));
      }
    }
    // Both accumulate in f64; the runner rounds activations to f32 between ops, which bounds the gap
    // near 1e-6 relative; 1e-4 absolute on logits of magnitude ~10 is tight yet order-independent.
    expect(maxMag).toBeGreaterThan(1);
    expect(maxErr).toBeLessThan(1e-4);
    expect(runner.stats().tokens).toBe(80);
    expect((runner.caches[0] as PackedKvCache).view(0).tiles).toBe(2);
  });
});
