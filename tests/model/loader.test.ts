import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../ts/model/load-model.js';
import { parseLlama2cCheckpoint } from '../../ts/model/llama2c-checkpoint.js';
import { parseLlama2cTokenizer } from '../../ts/model/tokenizer.js';
import { MODEL_DIR, requireShared } from './model-paths.js';

requireShared();
const CKPT = readFileSync(join(MODEL_DIR, 'stories260K.bin'));
const TOK = readFileSync(join(MODEL_DIR, 'tok512.bin'));

/** A model folder in a temp dir holding a (possibly corrupted) checkpoint and the real tokenizer. */
function folderWith(ckpt: Uint8Array, tok: Uint8Array = TOK): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-model-'));
  writeFileSync(join(dir, 'model.bin'), ckpt);
  writeFileSync(join(dir, 'tok512.bin'), tok);
  return dir;
}

function withHeader(field: number, value: number): Uint8Array {
  const b = new Uint8Array(CKPT);
  new DataView(b.buffer).setInt32(field * 4, value, true);
  return b;
}

const corrupt = (re: RegExp, arg = 'checkpoint') => expect.objectContaining({ code: 'CORRUPT_DATA', arg, message: expect.stringMatching(re) });

describe('llama2.c loader', () => {
  it('loads stories260K from its folder with the header from SOURCE.md', async () => {
    const { model, tokenizer, files } = await loadModel(MODEL_DIR);
    expect(model.config).toMatchObject({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    expect(model.weights.classifier).toBe(model.weights.tokenEmbedding);
    expect(files).toEqual({ checkpoint: 'stories260K.bin', tokenizer: 'tok512.bin' });
    expect(tokenizer.vocabSize).toBe(512);
    // the final RMSNorm weight is the last tensor before the RoPE tables: offsets line up if it is not ~0
    expect(Math.max(...model.weights.rmsFinal.map(Math.abs))).toBeGreaterThan(0.1);
  });

  it('accepts the checkpoint file path and a copy in another folder (nothing hard-wired)', async () => {
    const dir = folderWith(CKPT);
    expect((await loadModel(join(dir, 'model.bin'))).model.config.dim).toBe(64);
    expect((await loadModel(dir)).files.checkpoint).toBe('model.bin');
  });

  it('rejects truncated files, trailing bytes and headers that disagree with the size', async () => {
    await expect(loadModel(folderWith(CKPT.subarray(0, CKPT.length - 100)))).rejects.toMatchObject(corrupt(/truncated/));
    await expect(loadModel(folderWith(Buffer.concat([CKPT, Buffer.alloc(8)])))).rejects.toMatchObject(corrupt(/trailing/));
    // vocab_size < 0 announces a separate classifier: the file is then too short for it
    await expect(loadModel(folderWith(withHeader(5, -512)))).rejects.toMatchObject(corrupt(/shared classifier=false.*truncated/));
    expect(() => parseLlama2cCheckpoint(withHeader(2, 6))).toThrow(corrupt(/truncated/)); // one layer too many
    expect(() => parseLlama2cCheckpoint(CKPT.subarray(0, 20))).toThrow(corrupt(/shorter than the 28-byte/));
  });

  it('rejects inconsistent headers before any size arithmetic', () => {
    expect(() => parseLlama2cCheckpoint(withHeader(3, 7))).toThrow(corrupt(/n_heads=7.*divide dim/));
    expect(() => parseLlama2cCheckpoint(withHeader(4, 3))).toThrow(corrupt(/n_kv_heads=3/));
    expect(() => parseLlama2cCheckpoint(withHeader(0, -64))).toThrow(corrupt(/dim=-64/));
    expect(() => parseLlama2cCheckpoint(withHeader(5, 0))).toThrow(corrupt(/vocab_size=0/));
    expect(() => parseLlama2cCheckpoint(withHeader(6, 0))).toThrow(corrupt(/seq_len=0/));
    expect(() => parseLlama2cCheckpoint(withHeader(0, 0x616b3432))).toThrow(corrupt(/ak42/));
    const nan = new Uint8Array(CKPT);
    new DataView(nan.buffer).setFloat32(28 + 4 * 1000, NaN, true);
    expect(() => parseLlama2cCheckpoint(nan)).toThrow(corrupt(/float 1000 is NaN/));
  });

  it('rejects a tokenizer that is truncated or disagrees with the vocabulary size', async () => {
    await expect(loadModel(folderWith(CKPT, TOK.subarray(0, TOK.length - 3)))).rejects.toMatchObject(corrupt(/truncated inside token 511/, 'tokenizer'));
    expect(() => parseLlama2cTokenizer(TOK, 500)).toThrow(corrupt(/trailing bytes/, 'tokenizer'));
    expect(() => parseLlama2cTokenizer(TOK, 513)).toThrow(corrupt(/truncated at token 512/, 'tokenizer'));
    const badLen = new Uint8Array(TOK);
    new DataView(badLen.buffer).setInt32(8, 1 << 20, true); // token 0's length
    expect(() => parseLlama2cTokenizer(badLen, 512)).toThrow(corrupt(/token 0 has length/, 'tokenizer'));
  });

  it('names an unknown model format instead of guessing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-model-'));
    writeFileSync(join(dir, 'weights.safetensors'), 'x');
    await expect(loadModel(dir)).rejects.toMatchObject({ code: 'CORRUPT_DATA', arg: 'model', message: expect.stringMatching(/no loader recognizes.*known formats: llama2c/) });
    const noTok = mkdtempSync(join(tmpdir(), 'kvpack-model-'));
    copyFileSync(join(MODEL_DIR, 'stories260K.bin'), join(noTok, 'stories260K.bin'));
    await expect(loadModel(noTok)).rejects.toMatchObject({ code: 'CORRUPT_DATA', arg: 'model' });
    await expect(loadModel(join(dir, 'missing'))).rejects.toMatchObject({ code: 'BAD_PARAM', arg: 'model' });
  });
});
