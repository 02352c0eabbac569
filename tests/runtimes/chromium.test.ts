/**
 * Headless Chromium (Debian `chromium`, driven by npm `puppeteer-core`) over a 127.0.0.1 static
 * server: the conformance subset on WASM SIMD and on WebGPU (SwiftShader, --enable-unsafe-webgpu),
 * and the browser example (examples/browser) running the synthetic demo in the page, with a
 * screenshot that must not be blank. Every step has a time limit; the browser and the server are
 * closed in every case. The screenshot stays in build/runtimes/browser-demo.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import type { Browser, Page } from 'puppeteer-core';
import { haveRuntime, recordRuntime, root, RUNTIMES, runLimited } from './record.js';

const present = haveRuntime('chromium');
const example = join(root, 'examples', 'browser');

interface Conf { passed: number; failed: number; description?: string; build?: string; error?: string; results?: { name: string; pass: boolean; err: number; ms: number }[] }

/** PNG (8-bit RGB/RGBA, non-interlaced, as Chromium writes) -> number of distinct colours in a sample and share of non-white pixels. */
function pngStats(png: Buffer): { colours: number; nonWhite: number } {
  let off = 8;
  let width = 0; let height = 0; let channels = 4;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('ascii', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') { width = data.readUInt32BE(0); height = data.readUInt32BE(4); channels = data[9] === 2 ? 3 : 4; }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  const colours = new Set<number>();
  let nonWhite = 0;
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let v = line[i]!;
      if (f === 1) v += a; else if (f === 2) v += b; else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) { const p = a + b - c; const pa = Math.abs(p - a); const pb = Math.abs(p - b); const pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      cur[i] = v & 255;
    }
    for (let x = 0; x < width; x++) {
      const r = cur[x * channels]!; const g = cur[x * channels + 1]!; const bl = cur[x * channels + 2]!;
      if (r < 240 || g < 240 || bl < 240) nonWhite++;
      if ((x + y) % 7 === 0) colours.add((r << 16) | (g << 8) | bl);
    }
    cur.copy(prev);
  }
  return { colours: colours.size, nonWhite: nonWhite / (width * height) };
}

describe.skipIf(!present)('Chromium (headless)', () => {
  let browser: Browser | undefined;
  let server: { url: string; close(): Promise<void> } | undefined;
  let version = '';

  beforeAll(async () => {
    const b = runLimited(process.execPath, [join(example, 'build.mjs')], { cwd: root, timeoutMs: 60_000 });
    expect(b.code, b.stderr).toBe(0);
    const out = join(example, 'out');
    await build({ entryPoints: [join(root, 'tests', 'runtimes', 'browser-entry.mjs')], outfile: join(out, 'conformance.js'),
      bundle: true, format: 'esm', platform: 'browser', logLevel: 'warning' });
    writeFileSync(join(out, 'conformance.html'), '<!doctype html><meta charset="utf-8"><title>kvpack conformance</title><script type="module" src="conformance.js"></script>');
    const { serveStatic } = await import(join(example, 'serve.mjs')) as { serveStatic(dir: string): Promise<{ url: string; close(): Promise<void> }> };
    server = await serveStatic(out);
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({
      executablePath: RUNTIMES.chromium.path,
      headless: true,
      timeout: 60_000,
      protocolTimeout: 240_000,
      userDataDir: mkdtempSync(join(tmpdir(), 'kvpack-chromium-')),
      args: ['--no-sandbox', '--headless=new', '--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-features=Vulkan',
        '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-dev-shm-usage'],
    });
    version = await browser.version();
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
    await server?.close();
  });

  async function open(path: string, ready: string, timeout: number): Promise<Page> {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server!.url + path, { timeout: 30_000 });
    try {
      await page.waitForFunction(ready, { timeout, polling: 250 });
    } catch (e) {
      throw new Error(`${path}: not ready within ${timeout} ms (${(e as Error).message}); page errors: ${errors.join('; ')}`);
    }
    return page;
  }

  it('conformance subset on WASM SIMD and on WebGPU (SwiftShader)', async () => {
    const page = await open('conformance.html', 'window.kvpackConformance !== undefined', 180_000);
    const out = await page.evaluate(() => (window as unknown as { kvpackConformance: Record<string, unknown> }).kvpackConformance);
    await page.close();
    expect(out.fatal).toBeUndefined();
    for (const k of ['wasm', 'webgpu'] as const) {
      const c = out[k] as Conf;
      console.log(`chromium ${k}: ${c.description ?? c.error}\n${(c.results ?? []).map((r) => `  ${r.pass ? 'pass' : 'FAIL'} ${r.name} err ${r.err.toExponential(2)} ${r.ms} ms`).join('\n')}`);
    }
    const wasm = out.wasm as Conf;
    expect(wasm.failed, JSON.stringify(wasm.results?.filter((r) => !r.pass))).toBe(0);
    expect(wasm.passed).toBeGreaterThanOrEqual(7);
    expect(wasm.build).toBe('relaxed'); // Chrome validates relaxed SIMD
    const gpu = out.webgpu as Conf;
    expect(gpu.error, 'WebGPU in headless Chromium (SwiftShader with --enable-unsafe-webgpu)').toBeUndefined();
    expect(gpu.failed, JSON.stringify(gpu.results?.filter((r) => !r.pass))).toBe(0);
    expect(gpu.passed).toBe(4);
    const v = version.replace(/^\D+\//, ''); // browser.version(): HeadlessChrome/156.0.8078.73 (the UA says 156.0.0.0)
    recordRuntime({ runtime: 'chromium', version: v, backend: 'wasm', status: 'pass', detail: `${wasm.description}; ${wasm.passed} cases`, test: 'tests/runtimes/chromium.test.ts' });
    recordRuntime({ runtime: 'chromium', version: v, backend: 'webgpu', status: 'pass', detail: `${gpu.description}; ${gpu.passed} cases (headless, --enable-unsafe-webgpu)`, test: 'tests/runtimes/chromium.test.ts' });
  }, 300_000);

  it('the example page runs the demo and draws the table and the plots (screenshot not blank)', async () => {
    const page = await open('index.html?tokens=512&heads=8&kvHeads=2&headDim=64&steps=2',
      "document.body.dataset.state === 'done' || document.body.dataset.state === 'error'", 180_000);
    const state = await page.evaluate(() => ({ state: document.body.dataset.state, err: (window as unknown as { kvpackError?: string }).kvpackError,
      rows: document.querySelectorAll('#table tbody tr').length, svgs: document.querySelectorAll('#plot svg').length,
      points: document.querySelectorAll('#plot circle').length, backend: document.getElementById('backend')!.textContent }));
    expect(state.state, state.err).toBe('done');
    expect(state.rows).toBeGreaterThanOrEqual(7);
    expect(state.svgs).toBe(2);
    expect(state.points).toBeGreaterThanOrEqual(5);
    // SwiftShader is a software adapter: the page must have chosen WASM SIMD over it
    expect(state.backend).toMatch(/^wasm: WebAssembly SIMD/);
    await page.setViewport({ width: 1000, height: 900 });
    const png = Buffer.from(await page.screenshot({ fullPage: true, type: 'png' }));
    await page.close();
    mkdirSync(join(root, 'build', 'runtimes'), { recursive: true });
    writeFileSync(join(root, 'build', 'runtimes', 'browser-demo.png'), png);
    const stats = pngStats(png);
    expect(stats.nonWhite).toBeGreaterThan(0.02); // text, table borders, bars
    expect(stats.colours).toBeGreaterThan(8); // the plot's blue and green, greys, anti-aliasing
    expect(version).toMatch(/Chrom/);
  }, 300_000);
});
