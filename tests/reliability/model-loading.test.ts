/**
 * Model loading and the capture command (issue 18): a checkpoint with a non-finite or absurd
 * weight (a fuzzed 3e38 loaded and gave non-finite logits) is CORRUPT_DATA at load;
 * `kvpack capture` with a missing --text or an unwritable --out is one clean BAD_PARAM line
 * before any work, not an ENOENT stack trace.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../ts/cli/main.js';
import { MAX_WEIGHT_ABS, parseLlama2cCheckpoint } from '../../ts/model/llama2c-checkpoint.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from '../model/model-paths.js';

requireShared();
const CKPT = readFileSync(join(MODEL_DIR, 'stories260K.bin'));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; }, env: { KVPACK_BACKEND: undefined } });
  return { code, out, err };
}

describe('checkpoint weights', () => {
  it('the real checkpoint loads; one weight set to NaN, Inf, 3e38 or just past 65504 is CORRUPT_DATA naming it', () => {
    expect(parseLlama2cCheckpoint(CKPT).config.dim).toBeGreaterThan(0);
    const at = 28 + 4 * 1234; // float 1234 after the 28-byte header
    for (const [v, re] of [[NaN, /weight float 1234 is NaN/], [-Infinity, /weight float 1234 is -Infinity/],
      [3e38, /weight float 1234 is 3[0-9.e+]+, beyond \|w\| <= 65504/], [MAX_WEIGHT_ABS * 1.01, /beyond/]] as const) {
      const bad = new Uint8Array(CKPT);
      new DataView(bad.buffer).setFloat32(at, v, true);
      expect(() => parseLlama2cCheckpoint(bad)).toThrow(expect.objectContaining({ code: 'CORRUPT_DATA', message: expect.stringMatching(re) }));
    }
  });
});

describe('kvpack capture file flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-capture-'));
  it('a missing --text is BAD_PARAM naming the file, exit 2, no stack trace', async () => {
    const r = await cli('capture', '--model', MODEL_DIR, '--text', join(dir, 'nope.txt'), '--out', join(dir, 'c.kvcap'), '--backend', 'ts');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error BAD_PARAM: --text: cannot read .*nope\.txt: no such file or folder \(ENOENT\)/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
  it('an --out in a missing folder, or a folder, is BAD_PARAM before capturing', async () => {
    const t0 = Date.now();
    const r = await cli('capture', '--model', MODEL_DIR, '--text', TEXT_FILE, '--out', join(dir, 'missing', 'c.kvcap'), '--backend', 'ts');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error BAD_PARAM: --out: cannot write .*c\.kvcap: no such file or folder \(ENOENT\)/);
    expect(Date.now() - t0).toBeLessThan(5000); // no model load, no capture
    const d = await cli('capture', '--model', MODEL_DIR, '--text', TEXT_FILE, '--out', dir, '--backend', 'ts');
    expect(d.err).toMatch(/--out: .* is a folder/);
  });
});
