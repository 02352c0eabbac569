/**
 * The npm package as a user gets it: `npm pack`, install the tarball into an empty folder
 * (offline: kvpack has no runtime dependencies), and run tests/runtimes/smoke.mjs from there in
 * Node, Deno and Bun: the WASM conformance subset on the backend made from the bundle's inlined
 * module, and (Node, Bun, Deno) from the `kvpack/wasm/<build>` file compiled by the caller, the
 * way workerd and bundlers do it. Bun runs with --no-install: with no `webgpu` package in the
 * folder, its probe must report the missing package instead of downloading it.
 * Needs dist/ (npm run build; npm test builds first).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveRuntime, lastJson, npmCommand, recordRuntime, root, RUNTIMES, runLimited } from './record.js';

interface Smoke {
  runtime: string; version: string; source: string; build: string; description: string;
  passed: number; failed: number; results: { name: string; pass: boolean; err: number }[];
  probe: { name: string; ok: boolean; reason: string }[];
}

let dir: string;

function smoke(cmd: string, args: string[], env: Record<string, string> = {}): Smoke {
  const r = runLimited(cmd, args, { cwd: dir, env: { ...process.env, ...env }, timeoutMs: 90_000 });
  expect(r.timedOut, `${cmd} ${args.join(' ')} ran past 90 s`).toBe(false);
  expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
  const out = lastJson<Smoke>(r.stdout);
  expect(out.failed, JSON.stringify(out.results.filter((x) => !x.pass))).toBe(0);
  expect(out.passed).toBeGreaterThanOrEqual(7); // every tile codec without calibration
  return out;
}

describe('npm package installed from its tarball', () => {
  beforeAll(() => {
    for (const f of ['index.js', 'kvpack.wasm', 'kvpack-relaxed.wasm']) {
      if (!existsSync(join(root, 'dist', f))) throw new Error(`dist/${f} missing: run \`npm run build\` first`);
    }
    dir = mkdtempSync(join(tmpdir(), 'kvpack-pack-'));
    const [npm, npmArgs] = npmCommand();
    const pack = runLimited(npm, [...npmArgs, 'pack', '--pack-destination', dir], { cwd: root, timeoutMs: 60_000 });
    expect(pack.code, pack.stderr + pack.stdout).toBe(0);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tgz, `npm pack wrote no tarball: ${pack.stdout}`).toBeDefined();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'kvpack-smoke', private: true, type: 'module' }));
    const inst = runLimited(npm, [...npmArgs, 'install', '--offline', '--no-audit', '--no-fund', '--silent', `./${tgz}`], { cwd: dir, timeoutMs: 90_000 });
    expect(inst.code, `offline install of the tarball: ${inst.stderr}`).toBe(0);
    for (const f of ['smoke.mjs', 'conformance.mjs']) copyFileSync(join(root, 'tests', 'runtimes', f), join(dir, f));
    return () => rmSync(dir, { recursive: true, force: true });
  }, 200_000);

  it('ships both WASM builds as package exports and no dependencies', () => {
    const pkg = join(dir, 'node_modules', 'kvpack');
    for (const f of ['dist/index.js', 'dist/kvpack.wasm', 'dist/kvpack-relaxed.wasm', 'README.md']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    expect(readdirSync(join(dir, 'node_modules')).filter((d) => !d.startsWith('.'))).toEqual(['kvpack']);
  }, 300_000);

  it('Node: inline module and the precompiled kvpack/wasm/<build> file', () => {
    const inline = smoke(process.execPath, ['smoke.mjs', 'kvpack']);
    const pre = smoke(process.execPath, ['smoke.mjs', 'kvpack', '--precompiled']);
    expect(pre.source).toMatch(/^kvpack\/wasm\/(base|relaxed) -> dist\/kvpack(-relaxed)?\.wasm$/);
    expect(pre.build).toBe(inline.build);
    recordRuntime({ runtime: 'node', version: inline.version, backend: 'wasm', status: 'pass',
      detail: `${inline.description}; ${inline.passed} cases (inline) + ${pre.passed} (precompiled file)`, test: 'tests/runtimes/package.test.ts' });
  }, 300_000);

  it('Deno: the installed package (relaxed build), inline and precompiled', () => {
    if (!haveRuntime('deno')) return;
    const env = { XDG_RUNTIME_DIR: dir };
    const inline = smoke(RUNTIMES.deno.path, ['run', '-A', 'smoke.mjs', 'kvpack'], env);
    const pre = smoke(RUNTIMES.deno.path, ['run', '-A', 'smoke.mjs', 'kvpack', '--precompiled'], env);
    expect(inline.build).toBe('relaxed');
    expect(pre.build).toBe('relaxed');
    recordRuntime({ runtime: 'deno', version: inline.version, backend: 'wasm', status: 'pass',
      detail: `${inline.description}; ${inline.passed} cases (inline) + ${pre.passed} (precompiled file)`, test: 'tests/runtimes/package.test.ts' });
  }, 300_000);

  it('Bun (--no-install): the installed package; its probe reports webgpu missing instead of installing it', () => {
    if (!haveRuntime('bun')) return;
    const inline = smoke(RUNTIMES.bun.path, ['--no-install', 'smoke.mjs', 'kvpack']);
    const pre = smoke(RUNTIMES.bun.path, ['--no-install', 'smoke.mjs', 'kvpack', '--precompiled']);
    expect(inline.build).toBe('relaxed');
    expect(pre.build).toBe('relaxed');
    const webgpu = inline.probe.find((p) => p.name === 'webgpu')!;
    expect(webgpu.ok).toBe(false);
    expect(webgpu.reason).toMatch(/webgpu/i);
    expect(existsSync(join(dir, 'node_modules', 'webgpu'))).toBe(false);
  }, 300_000);
});
