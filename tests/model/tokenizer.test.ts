import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../ts/model/load-model.js';
import { BOS, EOS, Tokenizer } from '../../ts/model/tokenizer.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

requireShared();
const { tokenizer } = await loadModel(MODEL_DIR);

describe('llama2.c BPE tokenizer (tok512)', () => {
  it('round-trips every line of the data text and merges (far fewer tokens than bytes)', () => {
    const lines = readFileSync(TEXT_FILE, 'utf8').split('\n').filter((l) => l.length > 0);
    let bytes = 0, tokens = 0;
    for (const line of lines) {
      const ids = tokenizer.encode(line);
      expect(ids[0]).toBe(BOS);
      expect(tokenizer.decode(ids)).toBe(line);
      bytes += line.length;
      tokens += ids.length;
    }
    expect(tokens).toBeLessThan(bytes / 1.5);
  });

  it('encodes common words as single pieces after the dummy-prefix space', () => {
    const ids = tokenizer.encode('Once upon a time', { bos: false, eos: true });
    expect(ids[ids.length - 1]).toBe(EOS);
    const pieces = ids.slice(0, -1).map((i) => new TextDecoder().decode(tokenizer.pieces[i]));
    expect(pieces.join('')).toBe(' Once upon a time');
    expect(pieces.length).toBeLessThanOrEqual(6);
    expect(tokenizer.encode('')).toEqual([BOS]);
  });

  it('falls back to <0xXX> byte tokens for characters outside the vocabulary and decodes them back', () => {
    const text = 'Café 🙂 Ωmega\ttab';
    const ids = tokenizer.encode(text);
    expect(tokenizer.decode(ids)).toBe(text);
    const smile = new TextEncoder().encode('🙂');
    const byteIds = [...smile].map((b) => tokenizer.pieces.findIndex((p) => new TextDecoder().decode(p) === `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
    expect(byteIds.every((i) => i > 0)).toBe(true);
    expect(ids.join(',')).toContain(byteIds.join(','));
  });

  it('rejects text it cannot encode, naming the argument and offset', () => {
    expect(() => tokenizer.encode('ab\uD800cd')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'text', message: expect.stringMatching(/surrogate U\+D800 at offset 2/) }));
    // a vocabulary without byte-fallback pieces cannot encode an unknown character
    const enc = new TextEncoder();
    const tiny = new Tokenizer(['<unk>', '<s>', '</s>', ' ', 'a', 'b'].map((s) => enc.encode(s)), new Float32Array(6), 5);
    expect(tiny.encode('ab')).toEqual([BOS, 3, 4, 5]);
    expect(() => tiny.encode('abé')).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'text', message: expect.stringMatching(/U\+00E9 at offset 2.*no <0xXX> fallback/) }));
    expect(() => tokenizer.decode([1, 600])).toThrow(expect.objectContaining({ code: 'BAD_PARAM', arg: 'ids' }));
  });
});
