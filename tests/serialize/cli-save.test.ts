/**
 * kvpack generate --save-cache / --load-cache (resuming from a saved prompt gives the same
 * tokens as not saving) and kvpack inspect, on the real model (../shared, stories260K).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../ts/cli/main.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from '../model/model-paths.js';

requireShared();

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; }, env: { KVPACK_BACKEND: undefined } });
  return { code, out, err };
}

describe('kvpack generate --save-cache / --load-cache, kvpack inspect', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-save-'));
  // a rotated calibrated pairing (decisions.md#D32) calibrates from --text and saves its rotation's
  // seed; its longer prompt seals tiles before the save
  const long = 'Once upon a time there was a little cat named Tom. He liked to play in the garden with his friend, a big dog named Max. One day they';
  for (const [codec, backend, extra, text] of [
    ['kivi2@w16', 'wasm', [], ''], ['qaq', 'ts', [], ''], ['skvq-k2:skvq-v1.5@rk@rv', 'wasm', ['--text', TEXT_FILE], long],
  ] as const) {
    it(`${codec} (${backend}): resuming from the saved prompt prints the same text and cache line as not saving`, async () => {
      const prompt = text || 'Once upon a time there was a little cat named Tom. He liked to';
      const base = ['generate', '--model', MODEL_DIR, '--codec', codec, '--steps', '40', '--backend', backend, '--prompt', prompt, ...extra];
      const plain = await cli(...base);
      expect(plain.code).toBe(0);
      const file = join(dir, `${codec}.kvpk`);
      const saving = await cli(...base, '--save-cache', file);
      expect(saving.err).toMatch(/saved the cache of \d+ prompt tokens x 5 layers/);
      expect(saving.out).toBe(plain.out);
      const resumed = await cli('generate', '--model', MODEL_DIR, '--steps', '40', '--backend', backend, '--load-cache', file);
      expect(resumed.err).not.toMatch(/error/i);
      expect(resumed.out).toBe(plain.out);
      expect(resumed.out.length).toBeGreaterThan(prompt.length + 40);

      const info = await cli('inspect', file);
      expect(info.code).toBe(0);
      expect(info.out).toMatch(/layer 4: /);
      expect(info.out).toContain('checksums: all sections OK');
      const json = JSON.parse((await cli('inspect', file, '--json')).out);
      expect(json.status).toBe('ok');
      expect(json.layers).toHaveLength(5);
      expect(json.meta.prompt).toBe(prompt);
    }, 120_000);
  }

  it('inspect reports a corrupt file (exit 1) and a load of it fails with CORRUPT_DATA', async () => {
    const file = join(dir, 'kivi2@w16.kvpk');
    const bytes = new Uint8Array(readFileSync(file));
    bytes[bytes.length - 100]! ^= 0x10;
    const bad = join(dir, 'bad.kvpk');
    writeFileSync(bad, bytes);
    const r = await cli('inspect', bad);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/status: corrupt: .*crc32c.*\[CORRUPT_DATA\]/);
    const g = await cli('generate', '--model', MODEL_DIR, '--load-cache', bad);
    expect(g.code).toBe(1);
    expect(g.err).toMatch(/CORRUPT_DATA/);
  });
});
