import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createWasmBackend } from '../../ts/backends/wasm.js';
import '../../ts/codecs/index.js';
import { parsePairing } from '../../ts/model/codec-pairing.js';
import { denseForward } from '../../ts/model/dense-reference.js';
import { ModelRunner } from '../../ts/model/forward.js';
import { loadModel } from '../../ts/model/load-model.js';
import { evaluatePerplexity } from '../../ts/model/perplexity.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

requireShared();
const { model, tokenizer } = await loadModel(MODEL_DIR);
const evalTokens = tokenizeLines(tokenizer, splitText(readFileSync(TEXT_FILE, 'utf8')).evaluation);

// The model's attention through the WASM SIMD kernels (npm test builds build/kvpack.wasm first;
// a missing module fails here rather than skipping).
describe('the model with attention on the WASM SIMD backend', () => {
  it('fp32 cache: logits match the dense reference', async () => {
    const wasm = await createWasmBackend();
    const tokens = evalTokens.slice(0, 80);
    const runner = new ModelRunner(model, { cache: { key: 'fp32', value: 'fp32' }, backend: wasm });
    const logits = await runner.prefill(0, tokens);
    const dense = denseForward(model, tokens);
    let maxErr = 0;
    for (let p = 0; p < tokens.length; p++) for (let i = 0; i < 512; i++) maxErr = Math.max(maxErr, Math.abs(logits[p * 512 + i]! - dense[p]![i]!));
    // f32 accumulation in the kernel (the TS path accumulates in f64): ~1e-6 relative per
    // attention output, amplified by 5 layers and a 512-way classifier; 1e-3 on logits ~10.
    expect(maxErr).toBeLessThan(1e-3);
    wasm.dispose();
  });

  it('4-bit and 8-bit codecs, one rotated: perplexity equals the TS reference path (well below its 0.1% noise)', async () => {
    const wasm = await createWasmBackend();
    // q4_0@rk@rv: the rotation folded around the q4_0 kernels (decisions.md#D135)
    for (const spec of ['q8_0', 'kivi4', 'q4_0@rk@rv']) {
      const opts = { ctx: 128, maxWindows: 1 };
      const a = await evaluatePerplexity(model, evalTokens, parsePairing(spec), opts);
      const b = await evaluatePerplexity(model, evalTokens, parsePairing(spec), { ...opts, backend: wasm });
      expect(b.backend).toBe('wasm');
      expect(Math.abs(b.perplexity / a.perplexity - 1)).toBeLessThan(1e-4);
    }
    wasm.dispose();
  });
});
