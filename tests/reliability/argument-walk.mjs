/**
 * Types at the boundary, the rest of the public API (issue 18; the core entries are in
 * bad-arguments.test.ts): calibration (SKVQ, CQ, k-means), the model runner and capture, saving
 * and restoring, chooseBackend's options, QAQ's kernels, the GPU cache's GPU-buffer appends and
 * attendInto. Each argument, and each field of an options or data object, is replaced in turn by
 * values of the wrong type; every call must throw (or reject with) KvpackError BAD_PARAM or
 * BAD_SHAPE, and the objects it was given must be unchanged.
 *
 * Plain JavaScript over any build's exports (`kv`), so the same walk runs in the test
 * (tests/reliability/bad-arguments-walk.test.ts, over ts/) and in scripts/reliability-probes.mjs
 * (over a dist/). Returns { calls, problems }; an entry a build lacks is one problem.
 */

const F = new Float64Array(4);
const JUNK = {
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
// GPUBufferUsage, as numbers (not a global in every runtime)
const STORAGE = 0x80, COPY_SRC = 0x4, COPY_DST = 0x8;

function show(x) {
  if (x === null || x === undefined || typeof x !== 'object') return typeof x === 'string' ? `'${x}'` : String(x);
  if (Array.isArray(x)) return `[${x.map(show).join(', ')}]`;
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return JSON.stringify(x);
}

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}
const floats = (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => 2 * r() - 1); };

/** A legacy llama2.c checkpoint: dim 16, 2 heads of 8, one KV head, 1 layer, vocab 12. */
function tinyModel(kv) {
  const dim = 16, hidden = 16, nLayers = 1, nHeads = 2, nKvHeads = 1, vocab = 12, seqLen = 8, hd = dim / nHeads, kvDim = nKvHeads * hd;
  const n = vocab * dim + nLayers * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * dim * hidden) + dim + seqLen * hd;
  const b = new Uint8Array(28 + 4 * n);
  const dv = new DataView(b.buffer);
  [dim, hidden, nLayers, nHeads, nKvHeads, vocab, seqLen].forEach((v, i) => dv.setInt32(4 * i, v, true));
  const w = floats(n, 5);
  for (let i = 0; i < n; i++) dv.setFloat32(28 + 4 * i, 0.3 * w[i], true);
  return kv.parseLlama2cCheckpoint(b);
}

export async function argumentWalk(kv, { gpu = true } = {}) {
  const problems = [];
  let calls = 0;
  const failure = async (fn) => { try { await fn(); } catch (e) { return e; } return undefined; };
  const judge = (what, e) => {
    if (!(e instanceof kv.KvpackError) || !['BAD_PARAM', 'BAD_SHAPE'].includes(e.code)) {
      problems.push(`${what}: ${e === undefined ? 'accepted' : e instanceof kv.KvpackError ? e.code : String(e).split('\n')[0]}`);
    }
  };
  /** Every argument position of `call` in turn, each junk value of its kind. */
  const walkArgs = async (name, call, good, kinds) => {
    for (let i = 0; i < kinds.length; i++) {
      if (!kinds[i]) continue;
      for (const j of JUNK[kinds[i]]) {
        const args = good();
        args[i] = j;
        calls++;
        judge(`${name} arg ${i} = ${show(j)}`, await failure(() => call(...args)));
      }
    }
  };
  /** Every field of the object at argument `at` in turn (optional fields: undefined is fine). */
  const walkFields = async (name, call, good, at, fields) => {
    for (const [f, k] of Object.entries(fields)) {
      for (const j of JUNK[k]) {
        if (j === undefined) continue;
        const args = good();
        args[at] = { ...args[at], [f]: j };
        calls++;
        judge(`${name} ${f} = ${show(j)}`, await failure(() => call(...args)));
      }
    }
  };
  const same = (what, a, b) => { if (a !== b) problems.push(`${what}: state changed (${a} -> ${b})`); };
  const section = async (name, fn) => {
    try { await fn(); } catch (e) { problems.push(`${name}: the walk stopped: ${String(e?.message ?? e).split('\n')[0]}`); }
  };

  const keys = floats(64 * 32, 1), values = floats(64 * 32, 2);
  const wasm = await kv.loadKvpackWasm();

  await section('SKVQ calibration', async () => {
    const sample = () => ({ kind: 'key', headDim: 16, nKvHeads: 2, data: keys });
    await walkArgs('calibrateSkvqStream', kv.calibrateSkvqStream, () => [sample(), { bits: 2 }], ['obj', 'obj', 'opt']);
    await walkFields('calibrateSkvqStream sample', kv.calibrateSkvqStream, () => [sample(), { bits: 2 }], 0, { kind: 'str', headDim: 'int', nKvHeads: 'int', data: 'f32' });
    await walkFields('calibrateSkvqStream options', kv.calibrateSkvqStream, () => [sample(), { bits: 2 }], 1,
      { bits: 'num', clipGrid: 'arr', restarts: 'int', groupSize: 'int', clusters: 'int', seed: 'int', reorder: 'bool', clip: 'bool', maxClipTokens: 'int' });
    const capture = () => ({ nKvHeads: 2, headDim: 16, layers: [{ keys, values }] });
    await walkArgs('calibrateSkvq', kv.calibrateSkvq, () => [capture(), {}], ['obj', 'opt', 'opt']);
    await walkFields('calibrateSkvq capture', kv.calibrateSkvq, () => [capture(), {}], 0, { nKvHeads: 'int', headDim: 'int', layers: 'arr' });
    await walkArgs('calibrateSkvq layer', (l) => kv.calibrateSkvq({ ...capture(), layers: [l] }), () => [{ keys, values }], ['obj']);
    await walkFields('calibrateSkvq layer', (l) => kv.calibrateSkvq({ ...capture(), layers: [l] }), () => [{ keys, values }], 0, { keys: 'f32', values: 'f32' });
    await walkFields('calibrateSkvq options', kv.calibrateSkvq, () => [capture(), {}], 1, { keyBits: 'num', valueBits: 'num' });
    await walkArgs('skvqMathWasm', kv.skvqMathWasm, () => [wasm], ['obj']);
  });

  await section('CQ calibration and k-means', async () => {
    const stream = () => ({ kind: 'key', nKvHeads: 2, headDim: 16 });
    const opts = () => ({ channelsPerGroup: 4, bits: 4, maxIterations: 2 });
    await walkArgs('calibrateCqStream', kv.calibrateCqStream, () => [keys, stream(), opts()], ['f32', 'obj', 'obj']);
    await walkFields('calibrateCqStream stream', kv.calibrateCqStream, () => [keys, stream(), opts()], 1, { kind: 'str', nKvHeads: 'int', headDim: 'int' });
    await walkFields('calibrateCqStream options', kv.calibrateCqStream, () => [keys, stream(), opts()], 2,
      { channelsPerGroup: 'int', bits: 'int', maxSamples: 'int', seed: 'int', maxIterations: 'int', fisher: 'f32', precision: 'str', kmeans: 'fn', onProgress: 'fn' });
    const capture = () => ({ nKvHeads: 2, headDim: 16, layers: [{ keys, values }] });
    await walkArgs('calibrateCq', kv.calibrateCq, () => [capture(), opts()], ['obj', 'obj']);
    await walkFields('calibrateCq capture', kv.calibrateCq, () => [capture(), opts()], 0, { nKvHeads: 'int', headDim: 'int', layers: 'arr' });
    await walkArgs('calibrateCq layer', (l) => kv.calibrateCq({ ...capture(), layers: [l] }, opts()), () => [{ keys, values }], ['obj']);
    await walkFields('calibrateCq layer', (l) => kv.calibrateCq({ ...capture(), layers: [l] }, opts()), () => [{ keys, values }], 0, { keys: 'f32', values: 'f32' });
    await walkFields('calibrateCq options', kv.calibrateCq, () => [capture(), opts()], 1, { fisher: 'arr' });
    const pts = Array.from({ length: 40 }, (_, i) => Math.sin(i));
    for (const [name, fn] of [['kmeans', kv.kmeans], ['kmeansWasm(wasm)', kv.kmeansWasm(wasm)]]) {
      await walkArgs(name, fn, () => [pts, 20, 2, 4, {}], ['f32', 'int', 'int', 'int', 'opt']);
      await walkFields(`${name} options`, fn, () => [pts, 20, 2, 4, {}], 4, { seed: 'int', maxIterations: 'int', weights: 'f32', onProgress: 'fn' });
    }
    await walkArgs('kmeansWasm', kv.kmeansWasm, () => [wasm], ['obj']);
  });

  await section('ModelRunner and captureKv', async () => {
    const model = tinyModel(kv);
    const runnerOpts = () => ({ cache: { key: 'kivi4', value: 'kivi4' } });
    const make = (m, o) => new kv.ModelRunner(m, o);
    await walkArgs('new ModelRunner', make, () => [model, runnerOpts()], ['obj', 'obj']);
    await walkFields('new ModelRunner options', make, () => [model, runnerOpts()], 1, { cache: 'obj', caches: 'arr', backend: 'opt', observe: 'fn' });
    await walkFields('new ModelRunner model', make, () => [model, runnerOpts()], 0, { config: 'obj', weights: 'obj' });
    const runner = new kv.ModelRunner(model, runnerOpts());
    await runner.step([0], [1]);
    const before = JSON.stringify(runner.stats());
    await walkArgs('runner.step', runner.step.bind(runner), () => [[1], [2]], ['ints', 'ints']);
    await walkArgs('runner.prefill', runner.prefill.bind(runner), () => [1, [2, 3], false], ['int', 'ints', 'bool']);
    await walkArgs('runner.position', runner.position.bind(runner), () => [0], ['int']);
    await walkArgs('runner.deleteSequence', runner.deleteSequence.bind(runner), () => [3], ['int']);
    same('ModelRunner stats', before, JSON.stringify(runner.stats()));
    same('ModelRunner position(1)', 0, runner.position(1));
    await walkArgs('captureKv', kv.captureKv, () => [model, [1, 2, 3], {}], ['obj', 'ints', 'opt']);
    await walkFields('captureKv options', kv.captureKv, () => [model, [1, 2, 3], {}], 2, { window: 'int', fisher: 'bool', backend: 'opt', onProgress: 'fn' });
  });

  await section('saving and restoring', async () => {
    const cache = new kv.PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4' });
    cache.append(0, keys, values);
    const bytes = cache.serialize();
    const before = JSON.stringify(cache.stats());
    const chunks = () => [bytes.subarray(0, 100), bytes.subarray(100)];
    await walkArgs('PackedKvCache.deserialize', kv.PackedKvCache.deserialize, () => [bytes, {}], ['bytes', 'opt']);
    await walkFields('PackedKvCache.deserialize options', kv.PackedKvCache.deserialize, () => [bytes, {}], 1, { layer: 'int', encodeWith: 'opt' });
    await walkArgs('PackedKvCache.deserializeFrom', kv.PackedKvCache.deserializeFrom, () => [chunks(), {}], ['source', 'opt']);
    await walkArgs('PackedKvCache.deserializeFrom chunk', (c) => kv.PackedKvCache.deserializeFrom([c]), () => [bytes], ['bytes']);
    await walkArgs('QaqKvCache.deserialize', kv.QaqKvCache.deserialize, () => [bytes, {}], ['bytes', 'opt']);
    await walkArgs('QaqKvCache.deserializeFrom', kv.QaqKvCache.deserializeFrom, () => [chunks(), {}], ['source', 'opt']);
    await walkArgs('deserializeCaches', kv.deserializeCaches, () => [bytes, {}], ['bytes', 'opt']);
    await walkArgs('deserializeCachesFrom', kv.deserializeCachesFrom, () => [chunks(), {}], ['source', 'opt']);
    await walkArgs('loadSavedCaches', kv.loadSavedCaches, () => [bytes, {}], ['bytes', 'opt']);
    await walkArgs('inspectSavedCache', kv.inspectSavedCache, () => [bytes], ['bytes']);
    await walkArgs('serializeCaches', kv.serializeCaches, () => [[cache], {}], ['arr', 'opt']);
    await walkArgs('serializeCaches cache', (c) => kv.serializeCaches([c]), () => [cache], ['obj']);
    await walkArgs('serializeCachesChunks', (c, o) => [...kv.serializeCachesChunks(c, o)], () => [[cache], {}], ['arr', 'opt']);
    same('cache stats', before, JSON.stringify(cache.stats()));
  });

  await section('chooseBackend options', async () => {
    await walkFields('chooseBackend', kv.chooseBackend, () => [{ env: {}, prefer: 'ts' }], 0, {
      prefer: 'str', log: 'fn', env: 'opt', probeAll: 'bool', probes: 'opt', allowSoftwareGpu: 'bool', probeTimeoutMs: 'num', failover: 'bool',
    });
  });

  await section('attention tolerances and the integer option', async () => {
    const cache = new kv.PackedKvCache({ nKvHeads: 2, headDim: 64, key: 'kivi2', value: 'kivi2' });
    const backend = new kv.WasmBackend(wasm);
    await walkArgs('attentionToleranceOf', kv.attentionToleranceOf, () => [backend, cache, 4], ['obj', 'obj', 'int']);
    await walkArgs('WasmBackend.attentionTolerance', (c, n) => backend.attentionTolerance(c, n), () => [cache, 4], ['obj', 'int']);
    await walkArgs('TsBackend.attentionTolerance', (c, n) => new kv.TsBackend().attentionTolerance(c, n), () => [cache, 4], ['obj', 'int']);
    await walkFields('new WasmBackend options', (w, o) => new kv.WasmBackend(w, o), () => [wasm, {}], 1, { integerAttention: 'bool' });
    // a head count that is not a multiple of the KV heads
    calls++;
    judge('attentionToleranceOf nHeads = 3 (2 KV heads)', await failure(() => kv.attentionToleranceOf(backend, cache, 3)));
  });

  await section('QAQ kernels', async () => {
    if (typeof kv.QaqWasmAttention !== 'function') throw new Error('QaqWasmAttention is not exported');
    await walkArgs('new QaqWasmAttention', (w) => new kv.QaqWasmAttention(w), () => [wasm], ['obj']);
    if (gpu) await walkArgs('new QaqGpu', (c) => new kv.QaqGpu(c), () => [{}], ['obj']);
  });

  if (gpu) {
    await section('GPU cache', async () => {
      const g = await kv.GpuKvCache.create({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4' });
      const dev = g.ctx.device;
      const buf = (n) => dev.createBuffer({ size: n * 4, usage: STORAGE | COPY_SRC | COPY_DST });
      const kb = buf(64 * 32), vb = buf(64 * 32);
      dev.queue.writeBuffer(kb, 0, keys);
      dev.queue.writeBuffer(vb, 0, values);
      await g.appendFromGpu(0, { buffer: kb }, { buffer: vb }, 64);
      const before = g.length(0);
      await walkArgs('appendFromGpu', g.appendFromGpu.bind(g), () => [1, { buffer: kb }, { buffer: vb }, 2], ['int', 'gpurows', 'gpurows', 'int']);
      await walkFields('appendFromGpu keys', g.appendFromGpu.bind(g), () => [1, { buffer: kb }, { buffer: vb }, 2], 1, { offset: 'int' });
      const enc = () => dev.createCommandEncoder();
      await walkArgs('appendFromGpuInto', g.appendFromGpuInto.bind(g), () => [enc(), 1, { buffer: kb }, { buffer: vb }, 2], ['obj', 'int', 'gpurows', 'gpurows', 'int']);
      await walkArgs('GpuKvCache.append', g.append.bind(g), () => [1, keys.subarray(0, 32), values.subarray(0, 32)], ['int', 'f32', 'f32']);
      const qb = buf(4 * 16), ob = buf(4 * 16);
      const into = () => [enc(), g, [0], { queries: { buffer: qb }, output: { buffer: ob }, nHeads: 4 }];
      await walkArgs('attendInto', kv.attendInto, into, ['obj', 'obj', 'ints', 'obj']);
      await walkFields('attendInto options', kv.attendInto, into, 3, { queries: 'gpurows', output: 'gpurows', nHeads: 'int' });
      await walkArgs('attendGpu', kv.attendGpu, () => [g, [0], floats(64, 3), 4, {}], ['obj', 'ints', 'f32', 'int', 'opt']);
      await walkArgs('GpuKvCache.create', kv.GpuKvCache.create, () => [{ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi4' }], ['obj']);
      await walkArgs('GpuKvCache.deserialize', kv.GpuKvCache.deserialize, () => [new Uint8Array(0), {}], ['bytes', 'opt']);
      same('GPU cache length(0)', before, g.length(0));
      same('GPU cache length(1)', 0, g.length(1));
      g.dispose();
    });
  }
  return { calls, problems };
}
