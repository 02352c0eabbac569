#!/usr/bin/env node
/**
 * Reliability probes (issue 18): each probe tries a number of inputs against a kvpack build and
 * counts failures (a silently wrong answer, a TypeError instead of a KvpackError, a leak, a hang).
 * Prints a table: probe x inputs tried x failures. Runs against any build's bundle, so the same
 * probes measure an older commit:
 *   node scripts/reliability-probes.mjs                 # this tree's dist/ (npm run build first)
 *   node scripts/reliability-probes.mjs /tmp/base/dist  # another worktree's build
 * Options: --json FILE writes the rows, --only REGEX runs the probes whose name matches. Needs
 * ../shared (the stories260K model) for two probes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

process.env.EGL_PLATFORM ??= 'surfaceless';
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonOut = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : undefined;
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? new RegExp(args.splice(onlyAt, 2)[1]) : undefined;
const distDir = resolve(args[0] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'));
const root = dirname(distDir);
const kv = await import(pathToFileURL(join(distDir, 'index.js')).href);
const shared = process.env.KVPACK_SHARED ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');

// ---- helpers
let seed = 12345;
const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
const gauss = (n, s = 1) => Float32Array.from({ length: n }, () => s * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand()));
const shape = { nKvHeads: 2, headDim: 16, key: 'q4_0', value: 'kivi2', window: 4, sinks: 1 };
const TF = 32, NH = 4, QL = NH * 16;
const maxDiff = (a, b) => { let d = 0; for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i])); return d; };
const settle = async (p) => { try { return { value: await p }; } catch (e) { return { error: e }; } };
const isKv = (e) => e instanceof kv.KvpackError;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rows = [];
async function probe(name, what, fn) {
  if (only && !only.test(name)) return;
  const t0 = Date.now();
  let r;
  try { r = await fn(); } catch (e) { r = { tried: 1, failures: 1, note: `probe threw: ${String(e?.message ?? e).split('\n')[0]}` }; }
  rows.push({ probe: name, what, ...r, seconds: +((Date.now() - t0) / 1000).toFixed(1) });
  console.error(`${name}: ${r.failures}/${r.tried}${r.note ? ` (${r.note})` : ''}`);
}

async function backends() {
  const out = { ts: new kv.TsBackend(), wasm: await kv.WasmBackend.create() };
  try { out.webgpu = await kv.WebGpuBackend.create(); } catch (e) { console.error(`no WebGPU: ${e.message}`); }
  try { out.threads = await kv.WasmThreadsBackend.create({ threads: 2, workerModule: pathToFileURL(join(distDir, 'index.js')) }); } catch (e) { console.error(`no WASM threads: ${e.message}`); }
  return out;
}
const B = await backends();

// ---- 1. concurrency: 100 attends in flight with appends between them, vs the same calls awaited
async function interleave(backend, withDeletes) {
  const run = async (concurrent) => {
    seed = 777;
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, gauss(40 * TF), gauss(40 * TF));
    cache.append(1, gauss(20 * TF), gauss(20 * TF));
    const q = new Float32Array(2 * QL);
    const res = [];
    for (let i = 0; i < 100; i++) {
      q.set(gauss(2 * QL));
      const p = backend.attend(cache, [0, 1], q, NH);
      res.push(concurrent ? p : await p);
      const n = 1 + Math.floor(rand() * 9);
      cache.append(i % 2, gauss(n * TF), gauss(n * TF));
      if (withDeletes && i % 10 === 5) { cache.delete(1); cache.append(1, gauss(7 * TF, 3), gauss(7 * TF, 3)); }
    }
    return Promise.all(res);
  };
  const seq = await run(false), con = await run(true);
  let failures = 0, worst = 0;
  con.forEach((o, i) => { const d = maxDiff(o, seq[i]); if (d > 1e-6) failures++; worst = Math.max(worst, d); });
  return { tried: 100, failures, note: `max |diff| ${worst.toPrecision(2)}` };
}
for (const name of ['ts', 'wasm', 'threads', 'webgpu']) {
  if (!B[name]) { rows.push({ probe: `concurrent attend: ${name}`, tried: 0, failures: 0, note: 'backend unavailable' }); continue; }
  await probe(`concurrent attend: ${name}`, '100 attends not awaited, appends between', () => interleave(B[name], false));
  await probe(`concurrent + delete/re-create: ${name}`, 'same, a sequence re-created every 10 calls', () => interleave(B[name], true));
}

// ---- 1b. QAQ (QaqKvCache attends itself through a packed-attention kernel): the same
// interleavings with recording on (the weights pick later tiles' widths), per kernel
function qaqScript(s, nOps) {
  seed = s;
  const live = new Set(), out = [];
  for (let i = 0; i < nOps; i++) {
    const r = rand(), sq = Math.floor(rand() * 3);
    if (r < 0.4 || live.size === 0) { out.push({ op: 'append', seq: sq, n: 1 + Math.floor(rand() * 40) }); live.add(sq); }
    else if (r < 0.48 && live.has(sq)) { out.push({ op: 'delete', seq: sq }); live.delete(sq); }
    else { const ids = [...live].filter(() => rand() < 0.7); out.push({ op: 'attend', seqs: ids.length ? ids : [[...live][0]] }); }
  }
  return out;
}
const qaqOpts = { nKvHeads: 2, headDim: 16, window: 4, qaq: { attentionWindow: 2 } };
async function qaqKernel(name) {
  if (name === 'ts') return { packedAttention: undefined };
  if (typeof kv.QaqWasmAttention !== 'function') return undefined;
  const k = name === 'wasm' ? await kv.QaqWasmAttention.create() : await kv.QaqGpu.create();
  return { packedAttention: k.packedAttention, kernel: k };
}
async function qaqInterleave(name) {
  const k = await qaqKernel(name);
  if (!k) return { tried: 0, failures: 0, note: 'QaqWasmAttention / QaqGpu not exported by this build' };
  const run = async (ops, concurrent, s) => {
    seed = s;
    const cache = new kv.QaqKvCache({ ...qaqOpts, ...(k.packedAttention ? { packedAttention: k.packedAttention } : {}) });
    const qBuf = new Float32Array(3 * QL), res = [];
    for (const o of ops) {
      if (o.op === 'append') cache.append(o.seq, gauss(o.n * TF), gauss(o.n * TF));
      else if (o.op === 'delete') cache.delete(o.seq);
      else {
        const q = qBuf.subarray(0, o.seqs.length * QL);
        q.set(gauss(q.length));
        const p = cache.attend(o.seqs, q, NH, true);
        res.push(concurrent ? p : await p);
        q.fill(3); // the caller reuses its buffer
      }
    }
    const out = await Promise.all(res);
    cache.dispose?.();
    return out;
  };
  let tried = 0, failures = 0, worst = 0, errors = 0;
  for (const s of [1, 2, 3]) {
    const ops = qaqScript(s, 80), attends = ops.filter((o) => o.op === 'attend').length;
    tried += attends;
    const want = await run(ops, false, 99 + s);
    const got = await settle(run(ops, true, 99 + s));
    if (got.error) { failures += attends; errors++; continue; }
    got.value.forEach((o, i) => { const d = maxDiff(o, want[i]); if (d !== 0) failures++; worst = Math.max(worst, d); });
  }
  k.kernel?.dispose();
  return { tried, failures, note: `max |diff| ${worst.toPrecision(2)}${errors ? `, ${errors} scripts threw` : ''}` };
}
for (const name of ['ts', 'wasm', 'webgpu']) {
  if (name === 'webgpu' && !B.webgpu) continue;
  await probe(`QAQ concurrent attend, recording: ${name}`, '3 scripts of 80 ops, attends not awaited', () => qaqInterleave(name));
}
for (const name of ['wasm', 'webgpu']) {
  if (name === 'webgpu' && !B.webgpu) continue;
  await probe(`QAQ dropped caches collected: ${name}`, '40 caches attended once, dropped, gc: kernel copies left', async () => {
    const k = await qaqKernel(name);
    if (!k) return { tried: 0, failures: 0, note: 'QaqWasmAttention / QaqGpu not exported by this build' };
    const live = () => k.kernel.liveMirrors;
    const one = async () => {
      const c = new kv.QaqKvCache({ ...qaqOpts, packedAttention: k.packedAttention });
      c.append(0, gauss(80 * TF), gauss(80 * TF));
      c.append(1, gauss(40 * TF), gauss(40 * TF));
      await c.attend([0, 1], gauss(2 * QL), NH);
    };
    for (let i = 0; i < 40; i++) await one();
    const made = 80; // 40 caches x 2 sequences (some may be collected during the loop already)
    for (let i = 0; i < 40 && live() > 0; i++) { gc(); await sleep(25); }
    const left = live();
    k.kernel.dispose();
    return { tried: made, failures: left, note: `${made} kernel copies made, ${left} left` };
  });
}

// ---- 2. argument types: wrong types at public entries must be KvpackError, state unchanged
await probe('wrong argument types', 'null/undefined/plain arrays/strings at public entries', async () => {
  const cache = new kv.PackedKvCache(shape);
  cache.append(0, gauss(40 * TF), gauss(40 * TF));
  const state = () => JSON.stringify([cache.sequenceIds(), cache.stats()]);
  const before = state();
  const junk = [null, undefined, 'x', [1, 2], {}, new Float64Array(TF)];
  const calls = [];
  for (const j of junk) {
    calls.push(() => new kv.PackedKvCache(j));
    calls.push(() => cache.append(1, j, gauss(TF)));
    calls.push(() => cache.append(1, gauss(TF), j));
    calls.push(() => kv.createCodec('q8_0', j));
    if (j !== undefined && !(j && typeof j === 'object' && !Array.isArray(j) && !ArrayBuffer.isView(j))) calls.push(() => kv.chooseBackend(j));
    calls.push(() => kv.parseKvCapture(j));
    for (const b of Object.values(B)) {
      calls.push(() => b.attend(j, [0], gauss(QL), NH));
      calls.push(() => b.attend(cache, j, gauss(QL), NH));
      calls.push(() => b.attend(cache, [0], j, NH));
    }
  }
  let failures = 0;
  const kinds = new Set();
  for (const c of calls) {
    const r = await settle((async () => c())());
    if (!r.error || !isKv(r.error)) { failures++; kinds.add(r.error ? r.error.constructor.name : `accepted: ${String(c).slice(6, 60)}`); }
  }
  if (state() !== before || cache.hasSequence(1)) { failures++; kinds.add('state changed'); }
  return { tried: calls.length, failures, note: kinds.size ? [...kinds].join(', ') : '' };
});
await probe('wrong argument types: rest of the API', 'tests/reliability/argument-walk.mjs: calibration, model, save/restore, chooseBackend, QAQ kernels, GPU buffers', async () => {
  const walk = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'reliability', 'argument-walk.mjs');
  const { argumentWalk } = await import(pathToFileURL(walk).href);
  const { calls, problems } = await argumentWalk(kv, { gpu: !!B.webgpu });
  const kinds = [...new Set(problems.map((p) => p.replace(/^.*?: /, '').slice(0, 40)))];
  return { tried: calls, failures: problems.length, note: kinds.slice(0, 4).join('; ') };
});
await probe('seqs: [] on every backend', 'BAD_SHAPE expected from each', async () => {
  const cache = new kv.PackedKvCache(shape);
  cache.append(0, gauss(40 * TF), gauss(40 * TF));
  let failures = 0; const got = [];
  for (const [n, b] of Object.entries(B)) {
    const r = await settle(b.attend(cache, [], new Float32Array(0), NH));
    got.push(`${n}: ${r.error ? r.error.code ?? r.error.constructor.name : 'answered'}`);
    if (r.error?.code !== 'BAD_SHAPE') failures++;
  }
  return { tried: Object.keys(B).length, failures, note: got.join(', ') };
});

// ---- 3. representable range
await probe('values past a codec range', 'appends past each codec range: error > 0.1 accepted silently', async () => {
  const cases = [['kivi4', 5e5], ['kivi8', 5e5], ['fp16', 1e5], ['q4_0', 1e6], ['q8_0', 2e7], ['kivi2', 5e8], ['q8_0', 5e8]];
  let failures = 0; const bad = [];
  for (const [codec, s] of cases) {
    const c = new kv.PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'fp32', value: codec });
    const ref = new kv.PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'fp32', value: 'fp32' });
    const K = gauss(64 * TF), V = gauss(64 * TF, s);
    const r = await settle((async () => c.append(0, K, V))());
    if (r.error) { if (r.error.code !== 'OUT_OF_RANGE') { failures++; bad.push(`${codec} ${r.error.code}`); } continue; }
    ref.append(0, K, V);
    const q = gauss(QL);
    const a = await B.ts.attend(c, [0], q, NH), b = await B.ts.attend(ref, [0], q, NH);
    const rel = maxDiff(a, b) / Math.max(...b.map(Math.abs));
    if (!(rel < 0.1)) { failures++; bad.push(`${codec}@${s.toExponential(0)}: ${rel.toPrecision(2)}`); }
  }
  return { tried: cases.length, failures, note: bad.join(', ') };
});
await probe('NaN where TS is finite', 'q = 3e38, fp32 K/V 1.5e38 on WASM and WebGPU', async () => {
  const mk = (kScale, vScale) => {
    const c = new kv.PackedKvCache({ nKvHeads: 2, headDim: 16, key: 'fp32', value: 'fp32' });
    c.append(0, gauss(40 * TF).map((x) => Math.sign(x) * kScale), gauss(40 * TF).map((x) => Math.sign(x) * vScale));
    return c;
  };
  const cases = [[1, 1, 3e38], [1.5e38, 1, 1], [1, 1.5e38, 1], [1.5e38, 1.5e38, 1e-30]];
  let tried = 0, failures = 0;
  for (const [k, v, qs] of cases) {
    const c = await settle((async () => mk(k, v))());
    for (const name of ['wasm', 'webgpu']) {
      if (!B[name]) continue;
      tried++;
      if (c.error) continue; // rejected at append on every backend alike
      const q = gauss(QL).map((x) => Math.sign(x) * qs);
      const ts = await settle(B.ts.attend(c.value, [0], q, NH));
      const got = await settle(B[name].attend(c.value, [0], q, NH));
      if (ts.value && ts.value.every(Number.isFinite) && !(got.value && got.value.every(Number.isFinite))) failures++;
    }
  }
  return { tried, failures };
});

// ---- 4. lifetime: dropped caches must be collected (not held by a backend), WASM memory reused
for (const name of ['wasm', 'webgpu']) {
  if (!B[name]) continue;
  await probe(`dropped caches collected: ${name}`, '200 caches attended once, dropped, gc', async () => {
    let collected = 0;
    const reg = new FinalizationRegistry(() => { collected++; });
    // in a function of its own: no variable of this probe keeps the last cache
    const one = async (i) => {
      const c = new kv.PackedKvCache(shape);
      c.append(0, gauss(40 * TF), gauss(40 * TF));
      await B[name].attend(c, [0], gauss(QL), NH);
      reg.register(c, i);
    };
    for (let i = 0; i < 200; i++) await one(i);
    for (let i = 0; i < 20 && collected < 200; i++) { gc(); await sleep(50); }
    const extra = name === 'wasm' ? `, WASM bytes in use after: ${B.wasm.bytesInUse}` : '';
    return { tried: 200, failures: 200 - collected, note: `${collected} collected${extra}` };
  });
}
await probe('dispose() frees at once', 'caches disposed after attend on WASM: bytes held after', async () => {
  const b = await kv.WasmBackend.create();
  let failures = 0;
  for (let i = 0; i < 50; i++) {
    const c = new kv.PackedKvCache(shape);
    c.append(0, gauss(40 * TF), gauss(40 * TF));
    await b.attend(c, [0], gauss(QL), NH);
    if (typeof c.dispose !== 'function') { failures++; continue; }
    c.dispose();
    if (b.bytesInUse !== 0) failures++;
  }
  return { tried: 50, failures };
});

// ---- 5. device loss mid-decode with chooseBackend's result
await probe('GPU lost mid-decode', '24 decode steps, device.destroy() at step 10, chooseBackend({ failover: true })', async () => {
  if (!B.webgpu) return { tried: 0, failures: 0, note: 'no WebGPU' };
  const { backend } = await kv.chooseBackend({ env: {}, allowSoftwareGpu: true, failover: true });
  const gpuOf = (b) => b.gpu ?? b.current?.gpu;
  const cache = new kv.PackedKvCache(shape);
  cache.append(0, gauss(60 * TF), gauss(60 * TF));
  let failures = 0;
  for (let step = 0; step < 24; step++) {
    const q = gauss(QL);
    const want = B.wasm.attendSync(cache, [0], q, NH);
    const p = backend.attend(cache, [0], q, NH);
    if (step === 10) gpuOf(backend).device.destroy();
    const r = await settle(p);
    if (r.error || maxDiff(r.value, want) > 1e-4) failures++;
    cache.append(0, gauss(TF), gauss(TF));
  }
  return { tried: 24, failures, note: `ends on ${backend.name}` };
});
await probe('forget()/dispose() during attend', 'WebGPU: in-flight call right, calls after dispose() refused', async () => {
  const g = await kv.WebGpuBackend.create();
  const cache = new kv.PackedKvCache(shape);
  cache.append(0, gauss(60 * TF), gauss(60 * TF));
  const q = gauss(QL);
  const want = B.wasm.attendSync(cache, [0], q, NH);
  const a = settle(g.attend(cache, [0], q, NH));
  g.forget(cache);
  const b = settle(g.attend(cache, [0], q, NH));
  g.dispose();
  let failures = 0;
  for (const r of [await a, await b]) if (r.error || maxDiff(r.value, want) > 1e-4) failures++;
  if (!(await settle(g.attend(cache, [0], q, NH))).error) failures++;
  return { tried: 3, failures };
});

// ---- 6. model loading and the CLI
await probe('QAQ window 1e9', 'rejected up front', async () => {
  const make = () => kv.codecInfo('qaq').createCache({ nKvHeads: 2, headDim: 16, window: 1e9 });
  const r = await settle((async () => make())());
  return { tried: 1, failures: r.error && isKv(r.error) ? 0 : 1, note: r.error ? r.error.code ?? r.error.constructor.name : 'accepted' };
});
const ckptPath = join(shared, 'models', 'stories260K', 'stories260K.bin');
await probe('absurd checkpoint weights', 'one weight = 3e38 / 1e6 / NaN', async () => {
  if (!existsSync(ckptPath)) return { tried: 0, failures: 0, note: `no ${ckptPath}` };
  const ck = readFileSync(ckptPath);
  let failures = 0;
  for (const v of [3e38, 1e6, NaN]) {
    const bad = new Uint8Array(ck);
    new DataView(bad.buffer).setFloat32(28 + 4 * 99, v, true);
    const r = await settle((async () => kv.parseLlama2cCheckpoint(bad))());
    if (r.error?.code !== 'CORRUPT_DATA') failures++;
  }
  return { tried: 3, failures };
});
await probe('kvpack capture file errors', 'missing --text, --out in a missing folder: no stack trace', async () => {
  const modelDir = join(shared, 'models', 'stories260K');
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-probe-'));
  const text = join(shared, 'data', 'tinystories-valid-sample', 'TinyStories-valid.txt');
  let failures = 0;
  for (const a of [['--text', join(dir, 'nope.txt'), '--out', join(dir, 'o.kvcap')], ['--text', text, '--out', join(dir, 'no', 'o.kvcap'), '--tokens', '64']]) {
    const r = spawnSync(process.execPath, [join(distDir, 'cli.js'), 'capture', '--model', modelDir, '--backend', 'ts', ...a], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0 || /\n\s+at /.test(r.stderr)) failures++;
  }
  return { tried: 2, failures };
});

// ---- 7. the test command: Deno runner without Vulkan must fail fast, not spin
await probe('Deno runner without Vulkan', 'node tests/deno/run.mjs, 60 s limit', async () => {
  const runner = join(root, 'tests', 'deno', 'run.mjs');
  const vulkan = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'].some(existsSync);
  if (vulkan) return { tried: 0, failures: 0, note: 'this machine has Vulkan: not a probe here' };
  const t0 = Date.now();
  // its own process group, killed whole at the limit: a killed runner must not leave Deno spinning
  const r = await new Promise((res) => {
    const child = spawn(process.execPath, [runner, 'kivi2'], { cwd: root, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '', signal = null;
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { signal = 'SIGKILL'; try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 60_000);
    child.on('exit', (status) => { clearTimeout(timer); res({ status, signal, stderr }); });
  });
  const s = (Date.now() - t0) / 1000;
  const ok = r.status === 1 && s < 10 && /mesa-vulkan-drivers/.test(r.stderr);
  return { tried: 1, failures: ok ? 0 : 1, note: `${r.signal ? `killed at the 60 s limit` : `exit ${r.status}`} after ${s.toFixed(1)} s` };
});

for (const b of Object.values(B)) b.dispose?.();
console.log(`kvpack reliability probes: ${distDir}\nmachine: ${cpus()[0]?.model} (${cpus().length} cores), node ${process.version}\n`);
console.log('| probe | inputs tried | failures | note |\n| --- | ---: | ---: | --- |');
for (const r of rows) console.log(`| ${r.probe} | ${r.tried} | ${r.failures} | ${r.note ?? ''} |`);
if (jsonOut) (await import('node:fs')).writeFileSync(jsonOut, JSON.stringify(rows, null, 2) + '\n');
process.exit(0);
