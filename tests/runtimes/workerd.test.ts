/**
 * The edge worker example (examples/edge-worker/) in workerd (npm `workerd`, the runtime of
 * Cloudflare Workers): build its out/ folder from dist/, start workerd on 127.0.0.1 with a free
 * port, send a bounded number of decode-attention requests (each with a timeout), and check the
 * answers against attendReference over the same cache built here from the same seeded workload,
 * and that the WASM backend (not TS) answered. workerd is killed in every case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toleranceError } from '../../ts/conformance/matrix.js';
import { haveRuntime, recordRuntime, root, RUNTIMES, runLimited } from './record.js';

const example = join(root, 'examples', 'edge-worker');
const present = haveRuntime('workerd');
const REQUESTS = 4;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function fetchJson(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  const body = await r.json() as Record<string, unknown>;
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${JSON.stringify(body)}`);
  return body;
}

describe.skipIf(!present)('workerd edge worker', () => {
  let proc: ChildProcess | undefined;
  let base = '';
  let log = '';
  let version = '';

  beforeAll(async () => {
    const b = runLimited(process.execPath, [join(example, 'build.mjs')], { cwd: root, timeoutMs: 60_000 });
    expect(b.code, b.stderr).toBe(0);
    version = runLimited(RUNTIMES.workerd.path, ['--version'], { timeoutMs: 20_000 }).stdout.trim().replace(/^workerd\s*/, '');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // detached: its own process group, killed as a whole in afterAll (npm's workerd is a Node shim
    // that starts the binary; SIGKILL to the shim alone left the binary running, D161)
    proc = spawn(RUNTIMES.workerd.path, ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`],
      { cwd: example, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    // bounded wait for the socket: 60 tries x 250 ms
    for (let i = 0; i < 60; i++) {
      if (proc.exitCode !== null) throw new Error(`workerd exited (${proc.exitCode}): ${log}`);
      try {
        await fetch(`${base}/nothing`, { signal: AbortSignal.timeout(1000) });
        return;
      } catch { await new Promise((r) => setTimeout(r, 250)); }
    }
    throw new Error(`workerd did not listen on ${base} within 15 s: ${log}`);
  }, 90_000);

  afterAll(() => {
    if (proc?.pid !== undefined) {
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* the group is gone */ }
    }
  });

  it('answers decode attention from the WASM backend, equal to the TS reference', async () => {
    const info = await fetchJson(`${base}/info`);
    expect(info.backend, JSON.stringify(info)).toBe('wasm');
    expect(info.description).toMatch(/WebAssembly SIMD/);

    const kv = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
    const wl = await import(pathToFileURL(join(example, 'workload.js')).href);
    const cache = wl.buildCache(kv);
    // the tolerance the worker's backend reports for this cache: KIVI-2 in GQA groups of 4 runs the
    // integer kernels by default (ts/backends/types.ts ATTENTION_TOLERANCE; tests/runtimes/conformance.mjs)
    const tol = info.tolerance as number;
    expect(tol).toBe(kv.ATTENTION_TOLERANCE.integer);
    expect((info.cache as { tokens: number }).tokens).toBe(cache.length(0));
    // where the package can serialize, the worker must have restored the bundled bytes, not rebuilt
    if (typeof kv.PackedKvCache.prototype.serialize === 'function') expect(String(info.restoredFrom)).toMatch(/^cache\.bin \(\d+ bytes/);
    else expect(String(info.restoredFrom)).toMatch(/^built in the worker/);
    for (let step = 0; step < REQUESTS; step++) {
      const q: Float32Array = wl.decodeQuery(step);
      const res = await fetchJson(`${base}/attend`, { method: 'POST', body: JSON.stringify({ q: Array.from(q) }) });
      expect(res.backend).toBe('wasm');
      const out = res.out as number[];
      const ref: Float32Array = kv.attendReference(cache, 0, q, wl.WORKLOAD.nHeads);
      expect(out.length).toBe(ref.length);
      expect(toleranceError(out, ref)).toBeLessThanOrEqual(tol);
    }
    // bad input is a typed error (KvpackError code), not a crash
    const bad = await fetch(`${base}/attend`, { method: 'POST', body: JSON.stringify({ q: [1, 2, 3] }), signal: AbortSignal.timeout(30_000) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code?: string }).code).toBe('BAD_SHAPE');
    recordRuntime({ runtime: 'workerd', version, backend: 'wasm', status: 'pass',
      detail: `${String(info.description)}; module imported as a workerd wasm module; packed cache ${String(info.restoredFrom).startsWith('cache.bin') ? 'restored from a bundled cache.bin data module (PackedKvCache.deserialize)' : 'built in the worker (no serialize() in this kvpack)'}`,
      test: 'tests/runtimes/workerd.test.ts' });
  }, 200_000);

  // last: stops the server. Killing only npm's shim left the workerd binary listening (D163).
  it('stops serving once its process group is killed', async () => {
    process.kill(-proc!.pid!, 'SIGKILL');
    let answered = true;
    for (let i = 0; i < 40 && answered; i++) { // 10 s at most
      try {
        await fetch(`${base}/nothing`, { signal: AbortSignal.timeout(1000) });
        await new Promise((r) => setTimeout(r, 250));
      } catch { answered = false; }
    }
    expect(answered, `workerd still answers on ${base} after its group was killed`).toBe(false);
  }, 30_000);
});
