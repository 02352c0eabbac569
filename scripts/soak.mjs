#!/usr/bin/env node
/**
 * Soak: many append / attend / dispose cycles on one backend, printing memory as it goes
 * (issue 18 "Lifetime"). Each cycle creates a small cache (2 KV heads x 16, q4_0 / kivi2,
 * 40 tokens: one sealed tile, sinks and a tail), attends once and disposes it; every tenth cycle
 * instead drops the cache without dispose() so the FinalizationRegistry path is exercised too.
 * WASM memory must stop growing after warm-up and return to its base; RSS is printed.
 *
 * The CI test (tests/reliability/soak.test.ts) runs 10^5 WASM and 10^3 WebGPU cycles; the long
 * version: node scripts/soak.mjs [--wasm N] [--webgpu N] [--minutes M] (needs npm run build).
 */
import { fileURLToPath } from 'node:url';

const mib = (b) => (b / 1048576).toFixed(1);

/** Runs `cycles` cycles on `backend` (kvpack module `kv`); returns samples and the end state. */
export async function soak(kv, backend, cycles, { log = () => {}, samples = 10, minutes = Infinity, gc } = {}) {
  const shape = { nKvHeads: 2, headDim: 16, key: 'q4_0', value: 'kivi2', window: 4, sinks: 1 };
  const tf = 32, n = 40;
  const keys = new Float32Array(n * tf).map((_, i) => Math.sin(i * 0.37));
  const values = new Float32Array(n * tf).map((_, i) => Math.cos(i * 0.11));
  const q = new Float32Array(4 * 16).map((_, i) => Math.sin(i));
  const wasm = backend.wasm; // WasmBackend only
  const rows = [];
  const sample = async (i) => {
    // let finalizers run (they need the event loop; with `gc`, after a full collection)
    gc?.();
    await new Promise((r) => setTimeout(r, 0));
    const r = { cycle: i, rssMiB: +mib(process.memoryUsage().rss), heapMiB: +mib(process.memoryUsage().heapUsed) };
    if (backend.liveMirrors !== undefined) r.gpuMirrors = backend.liveMirrors;
    if (wasm) Object.assign(r, { wasmMemoryMiB: +mib(wasm.memory.buffer.byteLength), wasmInUseBytes: wasm.arena.bytesInUse, wasmTopBytes: wasm.arena.topBytes });
    rows.push(r);
    log(JSON.stringify(r));
  };
  const t0 = Date.now();
  let checksum = 0, done = 0;
  for (let i = 0; i < cycles && Date.now() - t0 < minutes * 60_000; i++) {
    const cache = new kv.PackedKvCache(shape);
    cache.append(0, keys, values);
    const out = await backend.attend(cache, [0], q, 4);
    checksum += out[0];
    if (i % 10 !== 9) cache.dispose();
    done++;
    if (i % Math.max(1, Math.floor(cycles / samples)) === 0) await sample(i);
  }
  await sample(done);
  return { rows, cycles: done, seconds: (Date.now() - t0) / 1000, checksum };
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : def; };
  const kv = await import(new URL('../dist/index.js', import.meta.url).href);
  const v8 = await import('node:v8'), vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const os = await import('node:os');
  console.log(`soak on ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), node ${process.version}`);
  const minutes = opt('minutes', Infinity);
  const wasmCycles = opt('wasm', 1e6), gpuCycles = opt('webgpu', 1e4);
  if (wasmCycles > 0) {
    const be = await kv.WasmBackend.create();
    const r = await soak(kv, be, wasmCycles, { log: (l) => console.log(`wasm ${l}`), samples: 20, minutes, gc });
    console.log(`wasm: ${r.cycles} cycles in ${r.seconds.toFixed(1)} s`);
    be.dispose();
  }
  if (gpuCycles > 0) {
    const be = await kv.WebGpuBackend.create();
    const r = await soak(kv, be, gpuCycles, { log: (l) => console.log(`webgpu ${l}`), samples: 20, minutes, gc });
    console.log(`webgpu (${be.description}): ${r.cycles} cycles in ${r.seconds.toFixed(1)} s`);
    be.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.env.EGL_PLATFORM ??= 'surfaceless';
  main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
}
