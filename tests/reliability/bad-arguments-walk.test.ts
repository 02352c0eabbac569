/**
 * Types at the boundary, the rest of the public API (issue 18; the core entries are in
 * bad-arguments.test.ts): calibration (SKVQ, CQ, k-means), the model runner and capture, saving
 * and restoring, the GPU cache's GPU-buffer appends and attendInto, chooseBackend's options.
 * Each argument, and each field of an options or data object, is replaced in turn by values of
 * the wrong type; every call must throw (or reject with) KvpackError BAD_PARAM or BAD_SHAPE, and
 * the objects it was given must be unchanged.
 */
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import * as kv from '../../ts/index.js';
import { BufferUsage } from '../../ts/backends/webgpu/device.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';
import { tinyCheckpoint } from './fuzz-parsers.js';

type Kind = 'obj' | 'opt' | 'f32' | 'bytes' | 'int' | 'ints' | 'fn' | 'bool' | 'str' | 'num' | 'arr' | 'gpurows' | 'source';
const F = new Float64Array(4);
const JUNK: Record<Kind, unknown[]> = {
  obj: [null, undefined, 'x', 3, true, [1, 2]],
  opt: [null, 'x', 3, true, [1, 2]],
  f32: [null, undefined, 'x', 3, {}, [1, 2], F],
  bytes: [null, undefined, 'x', 3, {}, [1, 2], new Float32Array(4)],
  int: [null, undefined, 'x', NaN, 1.5, -1, {}, [1]],
  ints: [null, undefined, 'x', 3, {}, [0.5], ['a'], [null]],
  fn: [null, 'x', 3, {}],
  bool: [null, 'x', 3, {}],
  str: [null, 3, {}, [1]],
  num: [null, 'x', NaN, {}, [1]],
  arr: [null, 'x', 3, {}],
  gpurows: [null, undefined, 'x', 3, {}, { buffer: null }, { buffer: {} }, [1]],
  source: [null, undefined, 3, {}, 'x'],
};

async function failure(fn: () => unknown): Promise<unknown> {
  try { await fn(); } catch (e) { return e; }
  return undefined;
}

const problems: string[] = [];
let calls = 0;
/** Every argument position of `call` in turn, each junk value of its kind. */
async function walkArgs(name: string, call: (...a: unknown[]) => unknown, good: () => unknown[], kinds: (Kind | null)[]): Promise<void> {
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i];
    if (!k) continue;
    for (const j of JUNK[k]) {
      const args = good();
      args[i] = j;
      calls++;
      const e = await failure(() => call(...args));
      if (!(e instanceof kv.KvpackError) || !['BAD_PARAM', 'BAD_SHAPE'].includes(e.code)) {
        problems.push(`${name} arg ${i} = ${show(j)}: ${e === undefined ? 'accepted' : e instanceof kv.KvpackError ? e.code : String(e).split('\n')[0]}`);
      }
    }
  }
}
/** Every field of the object at argument `at` in turn (fields absent from `good` are added). */
async function walkFields(name: string, call: (...a: unknown[]) => unknown, good: () => unknown[], at: number, fields: Record<string, Kind>): Promise<void> {
  for (const [f, k] of Object.entries(fields)) {
    for (const j of JUNK[k]) {
      if (j === undefined) continue; // an optional field may be absent
      const args = good();
      args[at] = { ...(args[at] as object), [f]: j };
      calls++;
      const e = await failure(() => call(...args));
      if (!(e instanceof kv.KvpackError) || !['BAD_PARAM', 'BAD_SHAPE'].includes(e.code)) {
        problems.push(`${name} ${f} = ${show(j)}: ${e === undefined ? 'accepted' : e instanceof kv.KvpackError ? e.code : String(e).split('\n')[0]}`);
      }
    }
  }
}
function show(x: unknown): string {
  if (x === null || x === undefined || typeof x !== 'object') return typeof x === 'string' ? `'${x}'` : String(x);
  if (Array.isArray(x)) return `[${x.map(show).join(', ')}]`;
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return JSON.stringify(x);
}

const keys = gaussianKv(64, 2, 16, 1), values = gaussianKv(64, 2, 16, 2);
const model = kv.parseLlama2cCheckpoint(tinyCheckpoint(true, 1, 16));

suite('public entries: wrong-typed arguments and option fields are BAD_PARAM / BAD_SHAPE', () => {
  let wasm: kv.KvpackWasm;
  beforeAll(async () => { wasm = await kv.loadKvpackWasm(); });
  afterAll(() => {
    console.log(`argument walk: ${calls} calls, ${problems.length} not BAD_PARAM/BAD_SHAPE`);
  });

  it('SKVQ calibration', async () => {
    const sample = () => ({ kind: 'key', headDim: 16, nKvHeads: 2, data: keys });
    await walkArgs('calibrateSkvqStream', kv.calibrateSkvqStream as never, () => [sample(), { bits: 2 }], ['obj', 'obj', 'opt']);
    await walkFields('calibrateSkvqStream sample', kv.calibrateSkvqStream as never, () => [sample(), { bits: 2 }], 0, { kind: 'str', headDim: 'int', nKvHeads: 'int', data: 'f32' });
    await walkFields('calibrateSkvqStream options', kv.calibrateSkvqStream as never, () => [sample(), { bits: 2 }], 1,
      { bits: 'num', clipGrid: 'arr', restarts: 'int', groupSize: 'int', clusters: 'int', seed: 'int', reorder: 'bool', clip: 'bool', maxClipTokens: 'int' });
    const capture = () => ({ nKvHeads: 2, headDim: 16, layers: [{ keys, values }] });
    await walkArgs('calibrateSkvq', kv.calibrateSkvq as never, () => [capture(), {}], ['obj', 'opt', 'opt']);
    await walkFields('calibrateSkvq capture', kv.calibrateSkvq as never, () => [capture(), {}], 0, { nKvHeads: 'int', headDim: 'int', layers: 'arr' });
    await walkArgs('calibrateSkvq layer', (l) => kv.calibrateSkvq({ ...capture(), layers: [l as never] }), () => [{ keys, values }], ['obj']);
    await walkFields('calibrateSkvq layer', (l) => kv.calibrateSkvq({ ...capture(), layers: [l as never] }), () => [{ keys, values }], 0, { keys: 'f32', values: 'f32' });
    await walkFields('calibrateSkvq options', kv.calibrateSkvq as never, () => [capture(), {}], 1, { keyBits: 'num', valueBits: 'num' });
    await walkArgs('skvqMathWasm', kv.skvqMathWasm as never, () => [wasm], ['obj']);
  });

  it('CQ calibration and k-means', async () => {
    const stream = () => ({ kind: 'key', nKvHeads: 2, headDim: 16 });
    const opts = () => ({ channelsPerGroup: 4, bits: 4, maxIterations: 2 });
    await walkArgs('calibrateCqStream', kv.calibrateCqStream as never, () => [keys, stream(), opts()], ['f32', 'obj', 'obj']);
    await walkFields('calibrateCqStream stream', kv.calibrateCqStream as never, () => [keys, stream(), opts()], 1, { kind: 'str', nKvHeads: 'int', headDim: 'int' });
    await walkFields('calibrateCqStream options', kv.calibrateCqStream as never, () => [keys, stream(), opts()], 2,
      { channelsPerGroup: 'int', bits: 'int', maxSamples: 'int', seed: 'int', maxIterations: 'int', fisher: 'f32', precision: 'str', onProgress: 'fn' });
    const capture = () => ({ nKvHeads: 2, headDim: 16, layers: [{ keys, values }] });
    await walkArgs('calibrateCq', kv.calibrateCq as never, () => [capture(), opts()], ['obj', 'obj']);
    await walkFields('calibrateCq capture', kv.calibrateCq as never, () => [capture(), opts()], 0, { nKvHeads: 'int', headDim: 'int', layers: 'arr' });
    await walkArgs('calibrateCq layer', (l) => kv.calibrateCq({ ...capture(), layers: [l as never] }, opts()), () => [{ keys, values }], ['obj']);
    await walkFields('calibrateCq layer', (l) => kv.calibrateCq({ ...capture(), layers: [l as never] }, opts()), () => [{ keys, values }], 0, { keys: 'f32', values: 'f32' });
    await walkFields('calibrateCq options', kv.calibrateCq as never, () => [capture(), opts()], 1, { fisher: 'arr' });
    const pts = Array.from({ length: 40 }, (_, i) => Math.sin(i));
    for (const [name, fn] of [['kmeans', kv.kmeans], ['kmeansWasm(wasm)', kv.kmeansWasm(wasm)]] as const) {
      await walkArgs(name, fn as never, () => [pts, 20, 2, 4, {}], ['f32', 'int', 'int', 'int', 'opt']);
      await walkFields(`${name} options`, fn as never, () => [pts, 20, 2, 4, {}], 4, { seed: 'int', maxIterations: 'int', weights: 'f32', onProgress: 'fn' });
    }
    await walkArgs('kmeansWasm', kv.kmeansWasm as never, () => [wasm], ['obj']);
  });

  it('ModelRunner and captureKv', async () => {
    const runnerOpts = () => ({ cache: { key: 'kivi4', value: 'kivi4' } });
    await walkArgs('new ModelRunner', (m, o) => new kv.ModelRunner(m as never, o as never), () => [model, runnerOpts()], ['obj', 'obj']);
    await walkFields('new ModelRunner options', (m, o) => new kv.ModelRunner(m as never, o as never), () => [model, runnerOpts()], 1,
      { cache: 'obj', caches: 'arr', backend: 'opt', observe: 'fn' });
    await walkFields('new ModelRunner model', (m, o) => new kv.ModelRunner(m as never, o as never), () => [model, runnerOpts()], 0, { config: 'obj', weights: 'obj' });
    const runner = new kv.ModelRunner(model, runnerOpts());
    await runner.step([0], [1]);
    const before = JSON.stringify(runner.stats());
    await walkArgs('runner.step', runner.step.bind(runner) as never, () => [[1], [2]], ['ints', 'ints']);
    await walkArgs('runner.prefill', runner.prefill.bind(runner) as never, () => [1, [2, 3], false], ['int', 'ints', 'bool']);
    await walkArgs('runner.position', runner.position.bind(runner) as never, () => [0], ['int']);
    await walkArgs('runner.deleteSequence', runner.deleteSequence.bind(runner) as never, () => [3], ['int']);
    expect(JSON.stringify(runner.stats())).toBe(before);
    expect(runner.position(0)).toBe(1);
    expect(runner.position(1)).toBe(0);
    await walkArgs('captureKv', kv.captureKv as never, () => [model, [1, 2, 3], {}], ['obj', 'ints', 'opt']);
    await walkFields('captureKv options', kv.captureKv as never, () => [model, [1, 2, 3], {}], 2, { window: 'int', fisher: 'bool', backend: 'opt', onProgress: 'fn' });
  });

  it('saving and restoring', async () => {
    const cache = new kv.PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4' });
    cache.append(0, keys, values);
    const bytes = cache.serialize();
    const before = JSON.stringify(cache.stats());
    const chunks = () => [bytes.subarray(0, 100), bytes.subarray(100)];
    await walkArgs('PackedKvCache.deserialize', kv.PackedKvCache.deserialize as never, () => [bytes, {}], ['bytes', 'opt']);
    await walkFields('PackedKvCache.deserialize options', kv.PackedKvCache.deserialize as never, () => [bytes, {}], 1, { layer: 'int', encodeWith: 'opt' });
    await walkArgs('PackedKvCache.deserializeFrom', kv.PackedKvCache.deserializeFrom as never, () => [chunks(), {}], ['source', 'opt']);
    await walkArgs('PackedKvCache.deserializeFrom chunk', (c) => kv.PackedKvCache.deserializeFrom([c as never]), () => [bytes], ['bytes']);
    await walkArgs('QaqKvCache.deserialize', kv.QaqKvCache.deserialize as never, () => [bytes, {}], ['bytes', 'opt']);
    await walkArgs('QaqKvCache.deserializeFrom', kv.QaqKvCache.deserializeFrom as never, () => [chunks(), {}], ['source', 'opt']);
    await walkArgs('deserializeCaches', kv.deserializeCaches as never, () => [bytes, {}], ['bytes', 'opt']);
    await walkArgs('deserializeCachesFrom', kv.deserializeCachesFrom as never, () => [chunks(), {}], ['source', 'opt']);
    await walkArgs('loadSavedCaches', kv.loadSavedCaches as never, () => [bytes, {}], ['bytes', 'opt']);
    await walkArgs('inspectSavedCache', kv.inspectSavedCache as never, () => [bytes], ['bytes']);
    await walkArgs('serializeCaches', kv.serializeCaches as never, () => [[cache], {}], ['arr', 'opt']);
    await walkArgs('serializeCaches cache', (c) => kv.serializeCaches([c as never]), () => [cache], ['obj']);
    await walkArgs('serializeCachesChunks', (c, o) => [...kv.serializeCachesChunks(c as never, o as never)], () => [[cache], {}], ['arr', 'opt']);
    expect(JSON.stringify(cache.stats())).toBe(before);
  });

  it('chooseBackend options', async () => {
    const opts = () => ({ env: {}, prefer: 'ts' });
    await walkFields('chooseBackend', kv.chooseBackend as never, () => [opts()], 0, {
      prefer: 'str', log: 'fn', env: 'opt', probeAll: 'bool', probes: 'opt', allowSoftwareGpu: 'bool', probeTimeoutMs: 'num', failover: 'bool',
    });
  });

  it('GPU cache: appendFromGpu / appendFromGpuInto buffers, attendInto, attendGpu, create', async () => {
    const gpu = await kv.GpuKvCache.create({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4' });
    const dev = gpu.ctx.device;
    const usage = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
    const buf = (floats: number) => dev.createBuffer({ size: floats * 4, usage });
    const kb = buf(64 * 32), vb = buf(64 * 32);
    dev.queue.writeBuffer(kb, 0, keys as Float32Array<ArrayBuffer>);
    dev.queue.writeBuffer(vb, 0, values as Float32Array<ArrayBuffer>);
    await gpu.appendFromGpu(0, { buffer: kb }, { buffer: vb }, 64);
    const before = gpu.length(0);
    await walkArgs('appendFromGpu', gpu.appendFromGpu.bind(gpu) as never, () => [1, { buffer: kb }, { buffer: vb }, 2], ['int', 'gpurows', 'gpurows', 'int']);
    await walkFields('appendFromGpu keys', gpu.appendFromGpu.bind(gpu) as never, () => [1, { buffer: kb }, { buffer: vb }, 2], 1, { offset: 'int' });
    const enc = () => dev.createCommandEncoder();
    await walkArgs('appendFromGpuInto', gpu.appendFromGpuInto.bind(gpu) as never, () => [enc(), 1, { buffer: kb }, { buffer: vb }, 2], ['obj', 'int', 'gpurows', 'gpurows', 'int']);
    await walkArgs('GpuKvCache.append', gpu.append.bind(gpu) as never, () => [1, keys.subarray(0, 32), values.subarray(0, 32)], ['int', 'f32', 'f32']);
    const qb = buf(4 * 16), ob = buf(4 * 16);
    const into = () => [enc(), gpu, [0], { queries: { buffer: qb }, output: { buffer: ob }, nHeads: 4 }];
    await walkArgs('attendInto', kv.attendInto as never, into, ['obj', 'obj', 'ints', 'obj']);
    await walkFields('attendInto options', kv.attendInto as never, into, 3, { queries: 'gpurows', output: 'gpurows', nHeads: 'int' });
    await walkArgs('attendGpu', kv.attendGpu as never, () => [gpu, [0], randomQuery(4, 16, 1), 4, {}], ['obj', 'ints', 'f32', 'int', 'opt']);
    await walkArgs('GpuKvCache.create', kv.GpuKvCache.create as never, () => [{ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4' }], ['obj']);
    await walkArgs('GpuKvCache.deserialize', kv.GpuKvCache.deserialize as never, () => [new Uint8Array(0), {}], ['bytes', 'opt']);
    expect(gpu.length(0)).toBe(before);
    expect(gpu.length(1)).toBe(0);
    gpu.dispose();
  });

  it('no problems', () => {
    if (process.env.KVPACK_WALK_OUT) require('node:fs').writeFileSync(process.env.KVPACK_WALK_OUT, problems.join('\n'));
    expect(problems).toEqual([]);
  });
});
