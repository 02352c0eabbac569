import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { main } from '../../ts/cli/main.js';
import { KvpackError } from '../../ts/errors.js';
import { loadModel } from '../../ts/model/load-model.js';
import { parseTuneConfig, tuneCacheSpec, type TuneConfig } from '../../ts/model/tune.js';
import { MODEL_DIR, requireShared, TEXT_FILE } from './model-paths.js';

requireShared();

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; }, env: { KVPACK_BACKEND: undefined } });
  return { code, out, err };
}

// stories260K (head_dim 8), one window of 256 tokens: seconds. The candidates span a near-lossless
// codec (q8_0), a lossy one (kivi2) and a calibrated one (cq-4c8b), so each budget picks differently.
const BASE = ['tune', '--model', MODEL_DIR, '--text', TEXT_FILE, '--ctx', '256', '--windows', '1', '--calib-tokens', '512',
  '--candidates', 'q8_0,kivi4,kivi2,cq-4c8b@w32'];

describe('kvpack tune', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-tune-'));

  it('--budget picks the fewest bits within the budget, prints every candidate, writes a config eval and generate accept', async () => {
    const out = join(dir, 'q.json');
    const r = await cli(...BASE, '--budget', '1%', '--out', out);
    expect(r.code).toBe(0);
    const cfg = JSON.parse(readFileSync(out, 'utf8')) as TuneConfig;
    const c = cfg.measured.candidates;
    expect(c.map((x) => x.pairing)).toEqual(['q8_0', 'kivi4', 'kivi2', 'cq-4c8b@w32']);
    for (const x of c) expect(r.out).toContain(`| ${x.pairing}`);
    const ok = c.filter((x) => x.deltaPercent <= 1);
    expect(ok.length).toBeGreaterThan(0);
    expect(cfg.pairing).toBe([...ok].sort((a, b) => a.bits - b.bits)[0]!.pairing);
    expect(r.out).toContain(`chosen: ${cfg.pairing}:`);
    // q8_0 is within 1% here and kivi2 is not (+10% and more at head_dim 8): the choice is not trivial
    expect(c.find((x) => x.pairing === 'q8_0')!.meetsBudget).toBe(true);
    expect(c.find((x) => x.pairing === 'kivi2')!.meetsBudget).toBe(false);

    // kvpack eval --config measures the same pairing to the same perplexity
    const e = await cli('eval', '--model', MODEL_DIR, '--text', TEXT_FILE, '--ctx', '256', '--windows', '1', '--config', out, '--json', join(dir, 'e.json'));
    expect(e.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(dir, 'e.json'), 'utf8'));
    const row = doc.results.find((x: { label: string }) => x.label === cfg.pairing);
    expect(row.perplexity).toBeCloseTo(c.find((x) => x.pairing === cfg.pairing)!.perplexity, 9);
    const g = await cli('generate', '--model', MODEL_DIR, '--config', out, '--steps', '8', '--backend', 'ts');
    expect(g.code).toBe(0);
    expect(g.out).toContain(`cache (${cfg.pairing},`);
  }, 120_000);

  it('--bits picks the best perplexity within the bits; its calibrated config builds a PackedKvCache', async () => {
    const out = join(dir, 'b.json');
    const r = await cli(...BASE, '--bits', '5', '--out', out);
    expect(r.code).toBe(0);
    const cfg = JSON.parse(readFileSync(out, 'utf8')) as TuneConfig;
    const fit = cfg.measured.candidates.filter((x) => x.bits <= 5);
    // kivi2 (4.5 bits) and cq-4c8b@w32 (4.75 with its codebooks over 16 sequences) fit, the 4- and 8-bit codecs do not
    expect(fit.map((x) => x.pairing).sort()).toEqual(['cq-4c8b@w32', 'kivi2']);
    expect(cfg.pairing).toBe([...fit].sort((a, b) => a.deltaPercent - b.deltaPercent)[0]!.pairing);
    expect(cfg.calibration[0]!.key).not.toBeNull(); // cq-4c8b wins: its codebooks travel in the config
    expect(r.out).toContain('chosen:');
    const { model } = await loadModel(MODEL_DIR);
    const parsed = parseTuneConfig(JSON.parse(readFileSync(out, 'utf8')), model.config);
    const cache = new PackedKvCache({ ...tuneCacheSpec(parsed, 0), nKvHeads: model.config.nKvHeads, headDim: model.config.headDim });
    expect(cache.stats().tokens).toBe(0);
  }, 120_000);

  it('a budget nothing meets exits 1 and writes the closest; bad input is a typed error before any work', async () => {
    const out = join(dir, 'none.json');
    const r = await cli(...BASE.slice(0, -1), 'kivi2', '--budget', '0.001%', '--out', out);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/no candidate keeps/);
    expect(JSON.parse(readFileSync(out, 'utf8')).meetsBudget).toBe(false);
    expect((await cli(...BASE, '--budget', 'lots')).err).toMatch(/BAD_PARAM: --budget/);
    expect((await cli(...BASE)).err).toMatch(/BAD_PARAM: --budget: give exactly one/);
    expect((await cli(...BASE.slice(0, -1), 'kivi3', '--bits', '2')).err).toMatch(/UNKNOWN_CODEC.*kivi3/);
    expect((await cli(...BASE.slice(0, -1), 'qaq', '--bits', '2')).err).toMatch(/BAD_PARAM.*tiled codecs/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'kvpack-tune', version: 2 }));
    expect((await cli('eval', '--model', MODEL_DIR, '--text', TEXT_FILE, '--config', bad)).err).toMatch(/CORRUPT_DATA: version/);
    expect(() => parseTuneConfig({ ...JSON.parse(readFileSync(out, 'utf8')), pairing: 'kivi4' })).toThrow(KvpackError);
  }, 120_000);
});
