/** The README's API example runs as written against the built bundle (dist/index.js). */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..', '..');

describe('README', () => {
  it('the API example runs and prints backend, output size and bits', () => {
    const dist = join(root, 'dist', 'index.js');
    if (!existsSync(dist)) throw new Error('dist/index.js missing: run `npm run build` (npm test does) before this test');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const api = readme.slice(readme.indexOf('## API'));
    const block = /```js\n([\s\S]*?)```/.exec(api)?.[1];
    expect(block, 'README has a ```js block under ## API').toBeTruthy();
    expect(block).toContain("from 'kvpack'");
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-readme-'));
    writeFileSync(join(dir, 'example.mjs'), block!.replace("from 'kvpack'", `from '${pathToFileURL(dist).href}'`));
    const r = spawnSync(process.execPath, [join(dir, 'example.mjs')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, (r.stderr ?? '').slice(-1500)).toBe(0);
    // 32 heads x 128 = 4096 outputs; KIVI-2 with a 32-token fp window: ~3-4 effective bits
    const m = /^(webgpu|wasm|ts) 4096 (\d+\.\d+) bits\/element$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(3);
    expect(Number(m![2])).toBeLessThan(4.5);
  });

  it('the zero-copy WebGPU example runs (on whatever adapter Dawn finds: llvmpipe here)', () => {
    const dist = join(root, 'dist', 'index.js');
    if (!existsSync(dist)) throw new Error('dist/index.js missing: run `npm run build` (npm test does) before this test');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Zero-copy WebGPU'));
    const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block, 'README has a ```js block under ### Zero-copy WebGPU').toBeTruthy();
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-readme-'));
    writeFileSync(join(dir, 'zero-copy.mjs'), block!.replace("from 'kvpack'", `from '${pathToFileURL(dist).href}'`));
    const r = spawnSync(process.execPath, [join(dir, 'zero-copy.mjs')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, (r.stderr ?? '').slice(-1500)).toBe(0);
    expect(r.stdout).toMatch(/^zero-copy 40 tokens$/m);
  }, 130_000);

  it('the save-and-restore example runs: bytes, restored length 701, two layers back', () => {
    const dist = join(root, 'dist', 'index.js');
    if (!existsSync(dist)) throw new Error('dist/index.js missing: run `npm run build` (npm test does) before this test');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Save and restore')))?.[1];
    expect(block).toContain("from 'kvpack'");
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-readme-'));
    writeFileSync(join(dir, 'save.mjs'), block!.replace("from 'kvpack'", `from '${pathToFileURL(dist).href}'`));
    const r = spawnSync(process.execPath, [join(dir, 'save.mjs')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, (r.stderr ?? '').slice(-1500)).toBe(0);
    const m = /^(\d+) 701 (\d+)\n2$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(Number(m![2])); // packed tiles + fp rows + header
  });
});
