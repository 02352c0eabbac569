import type { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/fp32/index.js';
import { captureKv } from '../../ts/model/capture.js';
import { ModelRunner } from '../../ts/model/forward.js';
import { loadKvCapture, saveKvCapture } from '../../ts/model/kv-capture-file.js';
import { parseKvCapture, serializeKvCapture } from '../../ts/model/kv-capture.js';
import { loadModel } from '../../ts/model/load-model.js';
import { splitText, tokenizeLines } from '../../ts/model/text-split.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

describe('captureKv and the .kvcap format', () => {
  it('records the keys/values the cache holds, in windows, and round-trips through a file', async () => {
    requireShared();
    const { model, tokenizer } = await loadModel(MODEL_DIR);
    const split = splitText(readFileSync(TEXT_FILE, 'utf8'));
    const tokens = tokenizeLines(tokenizer, split.calibration).slice(0, 70);
    const cap = await captureKv(model, tokens, { window: 40 });
    expect(cap.nTokens).toBe(70);
    expect(Array.from(cap.positions.subarray(38, 42))).toEqual([38, 39, 0, 1]);
    // The second window's keys must equal what an fp32 cache holds after feeding those 30 tokens.
    const runner = new ModelRunner(model, { cache: { key: 'fp32', value: 'fp32' } });
    await runner.prefill(7, tokens.slice(40));
    const tf = model.config.nKvHeads * model.config.headDim;
    for (const l of [0, model.config.nLayers - 1]) {
      const view = (runner.caches[l] as PackedKvCache).view(7); // 30 tokens < 32: all still in the fp32 tail
      expect(view.tailCount).toBe(30);
      expect(Array.from(cap.layers[l]!.keys.subarray(40 * tf, 70 * tf))).toEqual(Array.from(view.tailK.subarray(0, 30 * tf)));
      expect(Array.from(cap.layers[l]!.values.subarray(40 * tf, 70 * tf))).toEqual(Array.from(view.tailV.subarray(0, 30 * tf)));
    }
    const dir = mkdtempSync(join(tmpdir(), 'kvcap-'));
    await saveKvCapture(join(dir, 'c.kvcap'), cap);
    const back = await loadKvCapture(join(dir, 'c.kvcap'));
    expect(back.nHeads).toBe(model.config.nHeads);
    expect(Array.from(back.tokens)).toEqual(tokens);
    expect(back.layers[3]!.queries).toEqual(cap.layers[3]!.queries);

    const bytes = serializeKvCapture(cap);
    expect(() => parseKvCapture(bytes.subarray(0, bytes.length - 4))).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA', arg: 'capture' }));
    const badMagic = bytes.slice(); badMagic[0] = 0;
    expect(() => parseKvCapture(badMagic)).toThrow(/not a .kvcap/);
    const nan = bytes.slice(); new DataView(nan.buffer).setFloat32(bytes.length - 4, NaN, true);
    expect(() => parseKvCapture(nan)).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA' }));
    writeFileSync(join(dir, 'short.kvcap'), bytes.subarray(0, 20));
    await expect(loadKvCapture(join(dir, 'short.kvcap'))).rejects.toMatchObject({ code: 'CORRUPT_DATA' });
  });

  it('calibration and evaluation splits share no line', () => {
    requireShared();
    const split = splitText(readFileSync(TEXT_FILE, 'utf8'));
    expect(split.evaluation.length).toBeGreaterThan(split.calibration.length);
    expect(split.calibration.length).toBeGreaterThan(0);
    for (const l of split.calibration) expect(split.evaluation).not.toContain(l);
    expect(() => splitText('one line only')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'text' }));
  });
});
