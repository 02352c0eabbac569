import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../ts/cli/main.js';
import { parseKvCapture } from '../../ts/model/kv-capture.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

requireShared();

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; }, env: { KVPACK_BACKEND: undefined } });
  return { code, out, err };
}

describe('kvpack eval / generate / capture on the real model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-cli-'));

  it('eval prints the table and writes JSON and SVG', async () => {
    const r = await cli('eval', '--model', MODEL_DIR, '--text', TEXT_FILE, '--ctx', '64', '--windows', '2', '--backend', 'ts',
      '--codecs', 'q8_0,kivi4@w32', '--json', join(dir, 'q.json'), '--svg', join(dir, 'q.svg'));
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| fp32 +\| +32\.00 \|/); // fp32 added as the baseline
    expect(r.out).toMatch(/\| kivi4@w32 /);
    expect(r.err).toMatch(/q8_0 .*100%/); // progress bar
    const doc = JSON.parse(readFileSync(join(dir, 'q.json'), 'utf8'));
    expect(doc.results.map((x: { label: string }) => x.label)).toEqual(['fp32', 'q8_0', 'kivi4@w32']);
    expect(doc.results[0].deltaVsFp32Percent).toBe(0);
    expect(doc.windows).toBe(2);
    expect(doc.machine.cores).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'q.svg'), 'utf8')).toMatch(/^<svg[^]*kivi4@w32[^]*<\/svg>\n$/);
  });

  it('eval rejects unknown codecs and missing flags with typed errors before loading anything', async () => {
    const r = await cli('eval', '--model', MODEL_DIR, '--text', TEXT_FILE, '--codecs', 'kivi3');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/UNKNOWN_CODEC.*kivi3/);
    expect((await cli('eval', '--text', TEXT_FILE)).err).toMatch(/BAD_PARAM: --model: is required/);
    expect((await cli('eval', '--model', MODEL_DIR, '--text', TEXT_FILE, '--ctx', '4096')).err).toMatch(/--ctx: must be at most .*512/);
  });

  it('generate prints text and the cache memory against fp32', async () => {
    const r = await cli('generate', '--model', MODEL_DIR, '--codec', 'kivi2', '--steps', '40', '--backend', 'ts');
    expect(r.code).toBe(0);
    expect(r.out.startsWith('Once upon a time')).toBe(true);
    expect(r.out.length).toBeGreaterThan(80);
    const m = /(\d+) tokens x 5 layers, ([\d.]+) KiB held .* vs fp32 ([\d.]+) KiB: ([\d.]+)x smaller/.exec(r.out)!;
    expect(m).not.toBeNull();
    expect(Number(m[3])).toBeCloseTo((Number(m[1]) * 5 * 2 * 32 * 4) / 1024, 1);
    expect(Number(m[4])).toBeGreaterThan(1.5);
  });

  it('capture writes a .kvcap of the calibration split', async () => {
    const out = join(dir, 'c.kvcap');
    const r = await cli('capture', '--model', MODEL_DIR, '--text', TEXT_FILE, '--tokens', '40', '--out', out);
    expect(r.code).toBe(0);
    const cap = parseKvCapture(new Uint8Array(readFileSync(out)));
    expect(cap.nTokens).toBe(40);
    expect(statSync(out).size).toBe(32 + 8 * 40 + 4 * 5 * 40 * 8 * (8 + 2 * 4));
  });
});
