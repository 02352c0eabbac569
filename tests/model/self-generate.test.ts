import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selfGenerateCapture, selfGenerateTokens } from '../../ts/calibrate/self-generate.js';
import { captureKv } from '../../ts/model/capture.js';
import { main } from '../../ts/cli/main.js';
import type { Model } from '../../ts/model/config.js';
import { parseKvCapture } from '../../ts/model/kv-capture.js';
import { loadModel } from '../../ts/model/load-model.js';
import { BOS, EOS, type Tokenizer } from '../../ts/model/tokenizer.js';
import { MODEL_DIR, requireShared } from './model-paths.js';

requireShared();

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; }, env: { KVPACK_BACKEND: undefined } });
  return { code, out, err };
}

/** Splits a stream at its BOS tokens (each story starts with one). */
function stories(tokens: readonly number[]): number[][] {
  const out: number[][] = [];
  for (const t of tokens) {
    if (t === BOS) out.push([t]);
    else out[out.length - 1]!.push(t);
  }
  return out;
}

describe('selfGenerateTokens: data-free calibration text sampled from the model', () => {
  let model: Model, tokenizer: Tokenizer;
  beforeAll(async () => { ({ model, tokenizer } = await loadModel(MODEL_DIR)); });

  it('lays stories out as tokenizeLines does, the same for a seed, different for another', async () => {
    const a = await selfGenerateTokens(model, { tokens: 400, window: 200, seed: 7, batch: 2 });
    const b = await selfGenerateTokens(model, { tokens: 400, window: 200, seed: 7, batch: 2 });
    const c = await selfGenerateTokens(model, { tokens: 400, window: 200, seed: 8, batch: 2 });
    expect(a.tokens).toHaveLength(400);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
    expect(a.tokens[0]).toBe(BOS);
    expect(a.tokens).not.toContain(EOS);
    expect(stories(a.tokens)).toHaveLength(a.stories);
    expect(a.stories).toBeGreaterThanOrEqual(2); // one BOS per window at least
    // Sampled at temperature 1 it is still English-like text: mostly letters, spaces and punctuation.
    const text = stories(a.tokens).map((s) => tokenizer.decode(s.slice(1))).join('\n');
    const plain = text.replace(/[^A-Za-z .,!?'"\n-]/g, '');
    expect(plain.length / text.length).toBeGreaterThan(0.97);
    expect(text.split(/\s+/).length).toBeGreaterThan(100 / 3);
  });

  it('keeps batched windows apart: greedy windows are identical whatever the batch', async () => {
    // At temperature 0 every window is the same greedy continuation of BOS; a cache that mixed
    // sequences, or a window not cleared before the next batch, would break that.
    const one = await selfGenerateTokens(model, { tokens: 120, window: 40, temperature: 0, batch: 1 });
    const three = await selfGenerateTokens(model, { tokens: 120, window: 40, temperature: 0, batch: 3 });
    expect(three.tokens).toEqual(one.tokens);
    expect(one.tokens.slice(40, 80)).toEqual(one.tokens.slice(0, 40));
    expect(one.tokens.slice(80)).toEqual(one.tokens.slice(0, 40));
  });

  it('selfGenerateCapture records what captureKv records over the same tokens, Fisher weights included', async () => {
    // 90 tokens in windows of 40: two full windows and a cut one, decoded as one batch.
    const { capture, text } = await selfGenerateCapture(model, { tokens: 90, window: 40, seed: 5, batch: 3, fisher: true });
    expect(text.tokens).toHaveLength(90);
    expect([text.tokens[0], text.tokens[40], text.tokens[80]]).toEqual([BOS, BOS, BOS]);
    const ref = await captureKv(model, text.tokens, { window: 40, fisher: true });
    expect(Array.from(capture.positions)).toEqual(Array.from(ref.positions));
    for (const l of [0, model.config.nLayers - 1]) {
      const [a, b] = [capture.layers[l]!, ref.layers[l]!];
      expect(a.queries).toEqual(b.queries);
      expect(a.keys).toEqual(b.keys);
      expect(a.values).toEqual(b.values);
      expect(a.keysFisher).toEqual(b.keysFisher);
      expect(a.valuesFisher).toEqual(b.valuesFisher);
      expect(a.keysFisher!.some((x) => x > 0)).toBe(true);
    }
  });

  it('rejects bad options with the argument named', async () => {
    for (const [opts, arg] of [
      [{ tokens: 0 }, 'tokens'], [{ tokens: 2.5 }, 'tokens'], [{ tokens: 10, temperature: -1 }, 'temperature'],
      [{ tokens: 10, seed: 0 }, 'seed'], [{ tokens: 10, batch: 0 }, 'batch'], [{ tokens: 10, window: 513 }, 'window'],
    ] as const) {
      await expect(selfGenerateTokens(model, opts)).rejects.toMatchObject({ code: 'BAD_PARAM', arg });
    }
  });

  it('kvpack capture --self-generate writes a capture of sampled stories', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-selfgen-'));
    const out = join(dir, 's.kvcap');
    const r = await cli('capture', '--model', MODEL_DIR, '--self-generate', '60', '--window', '30', '--seed', '3', '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/captured 60 tokens \(self-generated: \d+ stories/);
    const cap = parseKvCapture(new Uint8Array(readFileSync(out)));
    expect(cap.nTokens).toBe(60);
    const g = await selfGenerateTokens(model, { tokens: 60, window: 30, seed: 3 });
    expect(Array.from(cap.tokens)).toEqual(g.tokens);
    const both = await cli('capture', '--model', MODEL_DIR, '--self-generate', '60', '--text', 'x.txt', '--out', out);
    expect(both.code).not.toBe(0);
    expect(both.err).toMatch(/BAD_PARAM: --self-generate: give --text or --self-generate/);
    const neither = await cli('capture', '--model', MODEL_DIR, '--out', out);
    expect(neither.err).toMatch(/BAD_PARAM: --text: is required/);
  });
});
