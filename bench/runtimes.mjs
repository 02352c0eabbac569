#!/usr/bin/env node
/**
 * ms per decode step of one workload (examples/edge-worker/workload.js: 2,048 tokens, 16 query
 * heads over 4 KV heads x head_dim 128, KIVI 2-bit keys and values) on kvpack's WASM SIMD backend
 * in every runtime, measured in one run on one machine: Node, Deno, Bun (step.mjs in each),
 * headless Chromium (the same loop in a page) and workerd (the edge worker example; its clock
 * stands still during a request, so the client times requests of R attentions against requests
 * of none). Prints a table with each runtime's ratio to Node and writes bench/results/runtimes.json.
 * Needs `npm run build` first; Chromium from Debian (`chromium`, or env KVPACK_CHROMIUM).
 * Usage: node bench/runtimes.mjs [--steps 30] [--only node,bun,...] [--write (the README table)]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
const steps = Number(arg('--steps', '30'));
const only = arg('--only', 'node,deno,bun,chromium,workerd').split(',');
const dist = join(root, 'dist', 'index.js');
if (!existsSync(dist)) { console.error('bench/runtimes: dist/index.js missing: run `npm run build`'); process.exit(1); }
const BIN = {
  deno: join(root, 'node_modules', '.bin', 'deno'),
  bun: join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun'),
  workerd: join(root, 'node_modules', '.bin', 'workerd'),
  chromium: process.env.KVPACK_CHROMIUM ?? '/usr/bin/chromium',
};

function sub(cmd, args, env = {}) {
  if (!existsSync(cmd)) return { error: `${cmd} not found` };
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 180_000, killSignal: 'SIGKILL', env: { ...process.env, ...env } });
  if (r.status !== 0) return { error: `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(-400)}` };
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const step = join(root, 'bench', 'runtimes', 'step.mjs');
const RUNNERS = {
  node: async () => sub(process.execPath, [step, dist, String(steps)]),
  deno: async () => sub(BIN.deno, ['run', '-A', step, dist, String(steps)], { XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'kvb-')) }),
  bun: async () => sub(BIN.bun, ['--no-install', step, dist, String(steps)]),
  chromium: chromium,
  workerd: workerd,
};

async function chromium() {
  if (!existsSync(BIN.chromium)) return { error: `${BIN.chromium} not found (apt-get install chromium)` };
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'kvpack-bench-page-'));
  await build({ entryPoints: [join(root, 'bench', 'runtimes', 'page.mjs')], outfile: join(dir, 'page.js'), bundle: true, format: 'esm', platform: 'browser', logLevel: 'warning' });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>');
  const { serveStatic } = await import(pathToFileURL(join(root, 'examples', 'browser', 'serve.mjs')).href);
  const server = await serveStatic(dir);
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({ executablePath: BIN.chromium, headless: true, timeout: 60_000, userDataDir: mkdtempSync(join(tmpdir(), 'kvb-chr-')),
    args: ['--no-sandbox', '--headless=new', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}index.html?steps=${steps}`, { timeout: 30_000 });
    await page.waitForFunction('window.kvpackBench !== undefined', { timeout: 120_000 });
    const r = await page.evaluate(() => window.kvpackBench);
    return { ...r, version: (await browser.version()).replace(/^\D+\//, '') }; // the UA string says 156.0.0.0
  } finally {
    await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
    await server.close();
  }
}

async function workerd() {
  if (!existsSync(BIN.workerd)) return { error: `${BIN.workerd} not found (npm ci)` };
  const example = join(root, 'examples', 'edge-worker');
  const b = spawnSync(process.execPath, [join(example, 'build.mjs')], { encoding: 'utf8', timeout: 60_000 });
  if (b.status !== 0) return { error: b.stderr };
  const version = spawnSync(BIN.workerd, ['--version'], { encoding: 'utf8', timeout: 20_000 }).stdout.trim().replace(/^workerd\s*/, '');
  const port = await new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
  const proc = spawn(BIN.workerd, ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`], { cwd: example, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  try {
    let info;
    for (let i = 0; i < 60 && !info; i++) {
      try { info = await (await fetch(`${base}/info`, { signal: AbortSignal.timeout(30_000) })).json(); } catch { await new Promise((r) => setTimeout(r, 250)); }
    }
    if (!info) return { error: 'workerd did not answer within 15 s' };
    const { decodeQuery } = await import(pathToFileURL(join(example, 'workload.js')).href);
    const body = (repeat) => JSON.stringify({ q: Array.from(decodeQuery(0)), repeat });
    const time = async (repeat) => {
      const t0 = performance.now();
      const r = await fetch(`${base}/attend`, { method: 'POST', body: body(repeat), signal: AbortSignal.timeout(60_000) });
      await r.json();
      return performance.now() - t0;
    };
    const R = steps;
    await time(3); // warm-up
    const t0 = []; const tR = [];
    for (let i = 0; i < 5; i++) { t0.push(await time(0)); tR.push(await time(R)); }
    const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
    return { runtime: 'workerd', version, backend: info.description, msPerStep: (med(tR) - med(t0)) / R, steps: R * 5,
      note: `client-timed: (median request of ${R} attentions - median request of none) / ${R}` };
  } finally {
    proc.kill('SIGKILL');
  }
}

const rows = [];
for (const name of only) {
  process.stderr.write(`bench/runtimes: ${name}...\n`);
  try {
    rows.push({ runtime: name, ...(await RUNNERS[name]()) });
  } catch (e) {
    rows.push({ runtime: name, error: String(e.message ?? e) });
  }
}
const node = rows.find((r) => r.runtime === 'node' && r.msPerStep);
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`;
const table = [
  '| runtime | version | WASM build | ms/step | vs Node |',
  '| --- | --- | --- | ---: | ---: |',
  ...rows.map((r) => {
    if (r.error) return `| ${r.runtime} | - | - | failed: ${r.error.split('\n')[0]} | - |`;
    const build = /relaxed/.test(r.backend) ? 'relaxed SIMD' : 'SIMD';
    return `| ${r.runtime} | ${r.version} | ${build} | ${r.msPerStep.toFixed(2)} | ${node ? (r.msPerStep / node.msPerStep).toFixed(2) + 'x' : '-'} |`;
  }),
  '',
  `${new Date().toISOString().slice(0, 10)}, ${machine}, ${steps} timed steps per runtime in one run${rows.some((r) => r.note) ? '; workerd ' + rows.find((r) => r.note).note : ''}.`,
].join('\n');
console.log(`decode step, WASM SIMD backend, workload examples/edge-worker/workload.js (2048 tokens, 16q/4kv x 128, kivi2/kivi2); ${machine}`);
console.log(table);
if (process.argv.includes('--write')) {
  const { readFileSync } = await import('node:fs');
  const readme = join(root, 'README.md');
  const re = /<!-- runtime-bench:start -->[\s\S]*?<!-- runtime-bench:end -->/;
  writeFileSync(readme, readFileSync(readme, 'utf8').replace(re, `<!-- runtime-bench:start -->\n${table}\n<!-- runtime-bench:end -->`));
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'runtimes.json'), JSON.stringify({ tool: 'bench/runtimes.mjs', date: new Date().toISOString(), machine, steps, rows }, null, 2) + '\n');
process.exit(rows.some((r) => r.error) ? 1 : 0);
