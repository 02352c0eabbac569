import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { Fp32Codec } from '../../ts/codecs/fp32/index.js';
import { registerCodec } from '../../ts/codecs/registry.js';
import type { CalibrationSample } from '../../ts/codecs/types.js';
import { TsBackend } from '../../ts/backends/ts-backend.js';
import type { AttentionBackend } from '../../ts/backends/types.js';
import { parsePairings } from '../../ts/demo/pairings.js';
import { runDemo, type DemoConfig, type DemoRow } from '../../ts/demo/run.js';
import { makeChannelStats, makeKv, outlierCount } from '../../ts/demo/workload.js';
import { formatDemo } from '../../ts/demo/table.js';
import { KvpackError } from '../../ts/errors.js';

const base: DemoConfig = { tokens: 150, nHeads: 4, nKvHeads: 2, headDim: 64, window: 32, sinks: 0, steps: 2, calibrationTokens: 64, maxPackSeconds: 0, seed: 5 };

async function demo(config: Partial<DemoConfig>, codecs: string[], backend: AttentionBackend = new TsBackend()) {
  return runDemo({ ...base, ...config }, parsePairings(codecs), backend);
}

const byLabel = (rows: DemoRow[]) => new Map(rows.map((r) => [r.label, r]));

describe('synthetic workload', () => {
  it('keys have persistent outlier channels; values do not', () => {
    const shape = { nHeads: 2, nKvHeads: 2, headDim: 128 };
    const stats = makeChannelStats(shape, 1);
    const { keys, values } = makeKv(shape, stats, 256, 2);
    expect(stats.outlierChannels[0]).toHaveLength(outlierCount(128));
    const d = 128, tf = 256;
    const meanAbs = (x: Float32Array, c: number) => {
      let s = 0;
      for (let t = 0; t < 256; t++) s += Math.abs(x[t * tf + c]!);
      return s / 256;
    };
    const outlier = stats.outlierChannels[0]![0]!;
    const ordinary = [...Array(d).keys()].find((c) => !stats.outlierChannels[0]!.includes(c))!;
    expect(meanAbs(keys, outlier)).toBeGreaterThan(5 * meanAbs(keys, ordinary));
    expect(meanAbs(values, outlier)).toBeLessThan(3 * meanAbs(values, ordinary));
    // same seed, same data (deterministic across runs)
    expect(makeKv(shape, makeChannelStats(shape, 1), 256, 2).keys).toEqual(keys);
  });
});

describe('runDemo', () => {
  it('orders errors and bits as the codecs promise, for head_dim 8/64/128, GQA and ragged lengths', async () => {
    for (const [headDim, tokens] of [[8, 70], [64, 150], [128, 97]] as const) {
      const r = await demo({ headDim, tokens }, ['fp32', 'fp16', 'kivi8', 'kivi4', 'kivi2']);
      const m = byLabel(r.rows);
      expect(m.get('fp32')!.relError).toBeLessThan(1e-6); // same math as the dense reference, another order
      expect(m.get('fp16')!.relError).toBeLessThan(5e-3); // f16 has 11 significant bits
      expect(m.get('kivi8')!.relError).toBeLessThan(m.get('kivi4')!.relError);
      expect(m.get('kivi4')!.relError).toBeLessThan(m.get('kivi2')!.relError);
      expect(m.get('kivi2')!.relError).toBeGreaterThan(1e-3);
      // rows sorted by bits, descending; ratios follow from bits
      const bits = r.rows.map((x) => x.effectiveBits);
      expect([...bits].sort((a, b) => b - a)).toEqual(bits);
      for (const x of r.rows) {
        expect(x.ratioVsFp16).toBeCloseTo(16 / x.effectiveBits, 10);
        expect(x.ratioVsFp32).toBeCloseTo(32 / x.effectiveBits, 10);
        expect(x.msPerStep).toBeGreaterThan(0);
        expect(x.backend).toBe('ts');
      }
    }
  });

  it('per-channel keys (KIVI) beat per-token blocks (q4_0) on outlier-channel keys', async () => {
    // Values in fp32 isolate the key codec: per-token blocks share one scale with the outlier.
    const r = await demo({ headDim: 128, tokens: 200 }, ['q4_0/fp32', 'kivi4/fp32']);
    const m = byLabel(r.rows);
    expect(m.get('q4_0/fp32')!.relError).toBeGreaterThan(2 * m.get('kivi4/fp32')!.relError);
  });

  it('is deterministic for a seed and changes with it', async () => {
    const a = await demo({ tokens: 64 }, ['kivi2']);
    const b = await demo({ tokens: 64 }, ['kivi2']);
    const c = await demo({ tokens: 64, seed: 6 }, ['kivi2']);
    expect(b.rows[0]!.relError).toBe(a.rows[0]!.relError);
    expect(c.rows[0]!.relError).not.toBe(a.rows[0]!.relError);
  });

  it('calibrates codecs through CodecInfo.calibrate and skips those without it', async () => {
    const samples: CalibrationSample[] = [];
    registerCodec({
      name: 'test-calibrated', summary: 'fp32 that wants a calibration', streams: ['key', 'value'], needsCalibration: true,
      create: (ctx) => {
        if ((ctx.calibration as { tag?: string } | undefined)?.tag !== 'made-by-calibrate') throw new KvpackError('BAD_CALIBRATION', 'wrong object', 'calibration');
        return new Fp32Codec(ctx);
      },
      calibrate: (s) => { samples.push(s); return { tag: 'made-by-calibrate' }; },
    });
    registerCodec({
      name: 'test-uncalibratable', summary: 'no calibrate hook', streams: ['key', 'value'], needsCalibration: true,
      create: (ctx) => new Fp32Codec(ctx),
    });
    const r = await demo({ tokens: 64 }, ['test-calibrated', 'test-uncalibratable']);
    expect(r.rows.map((x) => x.label)).toEqual(['test-calibrated']);
    expect(r.rows[0]!.relError).toBeLessThan(1e-6);
    expect(r.skipped).toEqual([{ label: 'test-uncalibratable', reason: expect.stringMatching(/BAD_CALIBRATION/) }]);
    expect(samples.map((s) => s.kind)).toEqual(['key', 'value']);
    expect(samples[0]!.data.length).toBe(base.calibrationTokens * base.nKvHeads * base.headDim);
    expect(samples[0]!.queries!.length).toBe(base.calibrationTokens * base.nHeads * base.headDim);
    expect(formatDemo(r)).toMatch(/skipped test-uncalibratable: BAD_CALIBRATION/);
  });

  it('a backend that cannot run a codec falls back to TS for that row and says so', async () => {
    const broken: AttentionBackend = {
      name: 'wasm', description: 'broken on purpose',
      attend: async () => { throw new Error('no kernel for this codec'); },
      dispose: () => {},
    };
    const r = await demo({ tokens: 64 }, ['kivi4'], broken);
    expect(r.rows[0]!.backend).toBe('ts');
    expect(r.rows[0]!.note).toMatch(/wasm failed \(no kernel for this codec\); ran on ts/);
    expect(formatDemo(r)).toMatch(/\* kivi4: wasm failed/);
  });

  it('runs codecs that build their own cache (CodecInfo.createCache, QAQ) and refuses to mix them', async () => {
    const r = await demo({ tokens: 100, headDim: 64 }, ['qaq', 'qaq/fp16', 'fp32']);
    const m = byLabel(r.rows);
    expect(m.get('qaq')!.backend).toBe('self');
    expect(m.get('qaq')!.relError).toBeGreaterThan(0);
    expect(m.get('qaq')!.relError).toBeLessThan(0.5);
    expect(m.get('qaq')!.effectiveBits).toBeLessThan(16);
    expect(r.skipped).toEqual([{ label: 'qaq/fp16', reason: expect.stringMatching(/BAD_PARAM: codecs: qaq builds the whole cache/) }]);
  });

  it('skips a pairing whose packing would exceed the time budget, after the first chunk', async () => {
    const r = await demo({ tokens: 1100, headDim: 8, maxPackSeconds: 1e-9 }, ['kivi2']);
    expect(r.rows).toEqual([]);
    expect(r.skipped[0]!.reason).toMatch(/packing 1100 tokens would take ~\d+ s here .*512 tokens took .* over --max-pack-seconds/);
    // a pairing packed in one chunk is never skipped: there is nothing left to save
    const one = await demo({ tokens: 500, headDim: 8, maxPackSeconds: 1e-9 }, ['kivi2']);
    expect(one.rows).toHaveLength(1);
  });

  it('rejects bad configurations before any work', async () => {
    const cases: [Partial<DemoConfig>, string][] = [
      [{ tokens: 0 }, 'tokens'], [{ nHeads: 3 }, 'heads'], [{ headDim: 12 }, 'headDim'], [{ window: -1 }, 'window'],
      [{ steps: 0 }, 'steps'], [{ calibrationTokens: 8 }, 'calibrationTokens'],
    ];
    for (const [cfg, arg] of cases) {
      const e = await demo(cfg, ['fp32']).then(() => undefined, (x: unknown) => x as KvpackError);
      expect([e?.code, e?.arg]).toEqual(['BAD_PARAM', arg]);
    }
    const e = await demo({}, ['fp32', 'nope']).then(() => undefined, (x: unknown) => x as KvpackError);
    expect(e?.code).toBe('UNKNOWN_CODEC');
  });
});
