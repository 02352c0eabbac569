/** The kvpack command hides Dawn's native adapter warnings unless --verbose (ts/cli/driver-warnings.ts). */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DriverWarningFilter } from '../../ts/cli/driver-warnings.js';
import { makeRng } from '../helpers/data.js';

// What Dawn printed on this machine (no Vulkan loader; Mesa GL adapter), between kvpack's lines.
const DAWN = [
  "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory\n",
  '    at operator() (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/BackendVk.cpp:368)\n',
  '\n',
  'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 to fit dynamic offset allocation limit.\n',
  'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 80 to 16 to fit dynamic offset allocation limit.\n',
].join('');
const OURS = 'kvpack: backend webgpu is a software adapter; trying wasm first\n';
const FRAMES = '\reval [###.......]  10% 1/10 0.3s      \reval [######....]  20% 2/10 0.6s      ';

describe('DriverWarningFilter', () => {
  it('drops Dawn warning blocks and keeps everything else, however the stream is chunked', () => {
    const text = `${DAWN}${OURS}${FRAMES}\n${DAWN}done\n`;
    const rng = makeRng(3);
    for (let trial = 0; trial < 50; trial++) {
      let kept = '';
      const f = new DriverWarningFilter((s) => { kept += s; });
      for (let i = 0; i < text.length;) {
        const n = 1 + rng.int(40);
        f.push(text.slice(i, i + n));
        i += n;
      }
      f.end();
      expect(kept).toBe(`${OURS}${FRAMES}\ndone\n`);
      expect(f.dropped).toBe(6);
    }
  });

  it('passes a progress frame through before its line ends', () => {
    let kept = '';
    const f = new DriverWarningFilter((s) => { kept += s; });
    f.push('\reval [#...] 10%');
    expect(kept).toBe('\reval [#...] 10%');
  });
});

describe('kvpack command output', () => {
  const cli = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js');
  it('backends: no driver warning on stderr by default; --verbose still runs', () => {
    if (!existsSync(cli)) throw new Error('dist/cli.js missing: run `npm run build` (npm test does)');
    const r = spawnSync(process.execPath, [cli, 'backends'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, KVPACK_VERBOSE: '' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^Warning: /m);
    expect(r.stdout).toMatch(/^chosen: /m);
    const v = spawnSync(process.execPath, [cli, 'backends', '--verbose'], { encoding: 'utf8', timeout: 120_000 });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^chosen: /m);
  });
});
