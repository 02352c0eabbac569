import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { denseForward } from '../../ts/model/dense-reference.js';
import { kvGradients } from '../../ts/model/kv-gradients.js';
import { loadModel } from '../../ts/model/load-model.js';
import { logProb } from '../../ts/model/math.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

requireShared();
const { model, tokenizer } = await loadModel(MODEL_DIR);
const tokens = tokenizeLines(tokenizer, splitText(readFileSync(TEXT_FILE, 'utf8')).calibration).slice(0, 40);

describe('kvGradients: the backward pass that yields Fisher weights', () => {
  it('its loss is the dense reference forward pass\'s summed NLL', () => {
    const logits = denseForward(model, tokens);
    let nll = 0;
    for (let p = 0; p < tokens.length - 1; p++) nll -= logProb(logits[p]!, tokens[p + 1]!);
    expect(kvGradients(model, tokens).loss).toBeCloseTo(nll, 8);
  });

  it('matches central finite differences on keys and values of several layers', () => {
    const g = kvGradients(model, tokens);
    const kv = model.config.nKvHeads * model.config.headDim;
    // elements of early, middle and late tokens; several layers, both streams
    const picks: [number, 'key' | 'value', number][] = [
      [0, 'key', 3 * kv + 5], [0, 'value', 10 * kv + 17], [2, 'key', 20 * kv + 9], [2, 'value', 1 * kv + 30],
      [4, 'key', 36 * kv + 2], [4, 'value', 30 * kv + 12], [1, 'key', 0 * kv + 7], [3, 'value', 38 * kv + 25],
    ];
    const eps = 1e-4;
    for (const [layer, kind, index] of picks) {
      const up = kvGradients(model, tokens, { layer, kind, index, delta: eps }).loss;
      const down = kvGradients(model, tokens, { layer, kind, index, delta: -eps }).loss;
      const fd = (up - down) / (2 * eps);
      const an = (kind === 'key' ? g.layers[layer]!.keys : g.layers[layer]!.values)[index]!;
      // f64 throughout: central differences are accurate to ~eps^2 * curvature
      expect(Math.abs(fd)).toBeGreaterThan(1e-7); // a real dependence, not 0 = 0
      expect(Math.abs(an - fd)).toBeLessThan(1e-6 + 1e-4 * Math.abs(fd));
    }
    // the last token's key and value influence no prediction (it predicts nothing, nothing follows)
    const last = (tokens.length - 1) * kv;
    expect(g.layers[2]!.keys.subarray(last).every((x) => x === 0)).toBe(true);
    expect(g.layers[2]!.values.subarray(last).every((x) => x === 0)).toBe(true);
    expect(g.layers[2]!.keys.subarray(0, kv).some((x) => x !== 0)).toBe(true);
  });
});

describe('Fisher weights through capture and calibration', () => {
  it('captureKv --fisher stores squared gradients that survive the .kvcap round trip', async () => {
    const { captureKv } = await import('../../ts/model/capture.js');
    const { parseKvCapture, serializeKvCapture } = await import('../../ts/model/kv-capture.js');
    const cap = await captureKv(model, tokens.slice(0, 30), { window: 20, fisher: true });
    const g = kvGradients(model, tokens.slice(20, 30));
    const kv = model.config.nKvHeads * model.config.headDim;
    expect(cap.layers[1]!.valuesFisher![20 * kv + 3]).toBeCloseTo(g.layers[1]!.values[3]! ** 2, 6); // stored as f32
    const back = parseKvCapture(serializeKvCapture(cap));
    expect(back.layers[4]!.keysFisher).toEqual(cap.layers[4]!.keysFisher);
    const plain = await captureKv(model, tokens.slice(0, 30));
    expect(plain.layers[0]!.keysFisher).toBeUndefined();
    expect(parseKvCapture(serializeKvCapture(plain)).layers[0]!.keysFisher).toBeUndefined();
  });
});
