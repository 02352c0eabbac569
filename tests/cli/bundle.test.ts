/**
 * The built bundle (dist/, from `npm run build`, which `npm test` runs first): the CLI works,
 * the library is self-contained (WASM inlined, no side files, no static node: imports so it can
 * load in browsers), and it runs in Node and in Deno from a directory holding nothing but it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { relaxedSimdSupported } from '../../ts/backends/wasm-loader.js';

const root = resolve(import.meta.dirname, '..', '..');
const dist = join(root, 'dist');
const deno = join(root, 'node_modules', '.bin', 'deno');
const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';

function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  // stderr tail only: a failure inside the minified bundle would print whole source lines
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').slice(-1500) };
}

// A script that uses only the bundle: WASM attention over a packed cache equals the TS backend within the WASM backend's tolerance.
const SMOKE = `
import * as kv from './index.js';
const d = 64, nKv = 2, nHeads = 4, n = 100;
let s = 1;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const k = Float32Array.from({ length: n * nKv * d }, rnd), v = Float32Array.from({ length: n * nKv * d }, rnd);
const q = Float32Array.from({ length: nHeads * d }, rnd);
const cache = new kv.PackedKvCache({ nKvHeads: nKv, headDim: d, key: 'kivi4', value: 'q8_0', window: 16 });
cache.append(0, k, v);
const wasm = await kv.createWasmBackend();
const a = await wasm.attend(cache, [0], q, nHeads);
const b = await new kv.TsBackend().attend(cache, [0], q, nHeads);
let err = 0, scale = 1;
for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
const tol = kv.attentionToleranceOf(wasm, cache, nHeads);
console.log(JSON.stringify({ rel: err / scale, tol, codecs: kv.listCodecs().length, simd: kv.wasmSimdSupported(), build: wasm.wasm.build }));
`;

describe('dist bundle', () => {
  let lonely: string;
  beforeAll(() => {
    for (const f of ['index.js', 'cli.js']) {
      if (!existsSync(join(dist, f))) throw new Error(`dist/${f} missing: run \`npm run build\` (npm test does) before this test`);
    }
    // a directory with nothing but the library bundle: proves no side file (kvpack.wasm) is needed
    lonely = mkdtempSync(join(tmpdir(), 'kvpack-dist-'));
    copyFileSync(join(dist, 'index.js'), join(lonely, 'index.js'));
    writeFileSync(join(lonely, 'smoke.mjs'), SMOKE);
  });

  it('cli.js is an executable node script whose --help lists the commands', () => {
    const text = readFileSync(join(dist, 'cli.js'), 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(join(dist, 'cli.js')).mode & 0o111).not.toBe(0);
    const r = run(process.execPath, [join(dist, 'cli.js'), '--help']);
    expect(r.code, r.stderr).toBe(0);
    for (const c of ['demo', 'backends']) expect(r.stdout).toContain(c);
  });

  it('index.js has no static node: imports (browsers) and carries the WASM inline', () => {
    const text = readFileSync(join(dist, 'index.js'), 'utf8');
    expect(text.match(/(?:^|[;}\s])import\s*[^(]*?from\s*["']node:[^"']+["']/gm) ?? []).toEqual([]);
    expect(text.match(/(?:^|[;}\s])import\s*["']node:[^"']+["']/gm) ?? []).toEqual([]);
    expect(text).not.toContain('__KVPACK_WASM_BASE64__');
    expect(text).not.toContain('__KVPACK_WASM_RELAXED_BASE64__');
  });

  it('runs from a bare directory in Node: WASM attention equals the TS backend', () => {
    const r = run(process.execPath, ['smoke.mjs'], {}, lonely);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { rel: number; tol: number; codecs: number; simd: boolean; build: string };
    expect(out.simd).toBe(true);
    expect(out.build).toBe(relaxedSimdSupported() ? 'relaxed' : 'base'); // a child node without flags, like this one
    expect(out.codecs).toBeGreaterThanOrEqual(7);
    // same decoded values; kivi4 keys in groups of 2 run the integer kernels: their tier, as the
    // backend reports it (ATTENTION_TOLERANCE.integer)
    expect(out.tol).toBe(5e-3);
    expect(out.rel).toBeLessThanOrEqual(out.tol);
  });

  it('runs from a bare directory in Deno, on the relaxed-SIMD build, with and without env access', () => {
    // Deno's V8 validates relaxed SIMD by default: the inlined relaxed module runs there. Without
    // --allow-env, process.env reads throw; the loader then takes its default instead of failing.
    for (const perms of [['--allow-read', '--allow-env'], ['--no-prompt']]) {
      const r = run(deno, ['run', ...perms, 'smoke.mjs'], { XDG_RUNTIME_DIR: lonely }, lonely);
      expect(r.code, `${perms.join(' ')}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rel: number; simd: boolean; build: string };
      expect(out.simd).toBe(true);
      expect(out.build).toBe('relaxed');
      expect(out.rel).toBeLessThan(1e-5);
    }
  });

  it('backends: WASM runs from the bundle; WebGPU runs here unless KVPACK_ALLOW_NO_GPU=1', () => {
    const r = run(process.execPath, [join(dist, 'cli.js'), 'backends', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { chosen: string; attempts: { name: string; ok: boolean; reason: string }[] };
    const by = new Map(report.attempts.map((a) => [a.name, a]));
    expect(by.get('wasm')?.ok, by.get('wasm')?.reason).toBe(true);
    expect(by.get('ts')?.ok).toBe(true);
    if (allowNoGpu && !by.get('webgpu')?.ok) {
      console.warn(`webgpu: unavailable (${by.get('webgpu')?.reason}); allowed by KVPACK_ALLOW_NO_GPU=1`);
    } else {
      expect(by.get('webgpu')?.ok, `no WebGPU adapter (set KVPACK_ALLOW_NO_GPU=1 on machines without Mesa): ${by.get('webgpu')?.reason}`).toBe(true);
      // a software adapter (Mesa llvmpipe on CI) loses to WASM SIMD; a real GPU wins
      const software = (by.get('webgpu') as { details?: { software?: boolean } }).details?.software;
      expect(report.chosen).toBe(software ? 'wasm' : 'webgpu');
    }
  });

  it('demo runs end to end from the bundle and KVPACK_BACKEND selects the backend', () => {
    const r = run(process.execPath, [join(dist, 'cli.js'), 'demo', '--tokens', '80', '--heads', '4', '--kv-heads', '2',
      '--head-dim', '16', '--steps', '2', '--codecs', 'fp32,kivi4/kivi2,q4_0'], { KVPACK_BACKEND: 'wasm' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/backend: wasm/);
    const fp32 = r.stdout.split('\n').find((l) => l.startsWith('fp32 '))!.trim().split(/\s+/);
    expect(Number(fp32[4])).toBeLessThan(1e-5); // rel err: WASM vs dense fp32, summation order only
    expect(fp32[7]).toBe('wasm');
  });
});
