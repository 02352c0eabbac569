#!/usr/bin/env node
/**
 * ms per decode step of one workload (examples/edge-worker/workload.js: 2,048 tokens, 16 query
 * heads over 4 KV heads x head_dim 128, KIVI 2-bit keys and values) on kvpack's WASM SIMD backend
 * in every runtime, measured in one run on one machine: Node, Deno, Bun (step.mjs in each),
 * headless Chromium (the same loop in a page) and workerd (the edge worker example; its clock
 * stands still during a request, so the client times requests of R attentions against requests
 * of none). Every runtime is compared on the same figure: ms per step over windows of R steps
 * (`--steps`), 5 windows each (runtimes/measure.mjs); the fastest single step, which only the
 * in-process runtimes can time, is printed beside it but not compared (D161: comparing it with
 * workerd's windows was the 2.5-6x of D68). Runtimes run one after another, so load that
 * changes between them moves the ratios; bench/workerd-wasm.mjs interleaves Node and workerd.
 * Prints a table with each runtime's ratio to Node and writes bench/results/runtimes.json.
 * Needs `npm run build` first; Chromium from Debian (`chromium`, or env KVPACK_CHROMIUM).
 * `--load K` runs K busy loops (Node processes, at most 10 minutes each) beside the measurement,
 * as other jobs on a shared machine do: it shows single steps and windows drifting apart (D161);
 * such a run writes bench/results/runtimes-load.json.
 * Usage: node bench/runtimes.mjs [--steps 30 (per window)] [--only node,bun,...] [--load K] [--write (the README table)]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROUNDS } from './runtimes/measure.mjs';

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
  deno: async () => {
    const xdg = mkdtempSync(join(tmpdir(), 'kvb-'));
    try { return sub(BIN.deno, ['run', '-A', step, dist, String(steps)], { XDG_RUNTIME_DIR: xdg }); } finally { rmSync(xdg, { recursive: true, force: true }); }
  },
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
  const profile = mkdtempSync(join(tmpdir(), 'kvb-chr-'));
  const browser = await puppeteer.launch({ executablePath: BIN.chromium, headless: true, timeout: 60_000, userDataDir: profile,
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
    rmSync(profile, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

async function workerd() {
  if (!existsSync(BIN.workerd)) return { error: `${BIN.workerd} not found (npm ci)` };
  const example = join(root, 'examples', 'edge-worker');
  const b = spawnSync(process.execPath, [join(example, 'build.mjs')], { encoding: 'utf8', timeout: 60_000 });
  if (b.status !== 0) return { error: b.stderr };
  const version = spawnSync(BIN.workerd, ['--version'], { encoding: 'utf8', timeout: 20_000 }).stdout.trim().replace(/^workerd\s*/, '');
  const port = await new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
  // its own process group: npm's workerd is a Node shim that starts the binary, and killing the
  // shim alone left the binary running (D161)
  const proc = spawn(BIN.workerd, ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`], { cwd: example, stdio: 'ignore', detached: true });
  const killGroup = () => { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', killGroup);
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
    const windows = [];
    for (let i = 0; i < ROUNDS; i++) { const empty = await time(0); windows.push((await time(R) - empty) / R); }
    windows.sort((x, y) => x - y);
    return { runtime: 'workerd', version, backend: info.description, msWindow: windows[windows.length >> 1], msWindowMin: windows[0], steps: R * ROUNDS,
      note: `client-timed: (request of ${R} attentions - request of none) / ${R}` };
  } finally {
    killGroup();
  }
}

const load = Number(arg('--load', '0'));
const hogs = Array.from({ length: load }, () => spawn(process.execPath, ['-e', 'const end = Date.now() + 600_000; while (Date.now() < end);'], { stdio: 'ignore' }));
process.once('exit', () => { for (const h of hogs) h.kill('SIGKILL'); });

const rows = [];
for (const name of only) {
  process.stderr.write(`bench/runtimes: ${name}...\n`);
  try {
    rows.push({ runtime: name, ...(await RUNNERS[name]()) });
  } catch (e) {
    rows.push({ runtime: name, error: String(e.message ?? e) });
  }
}
for (const h of hogs) h.kill('SIGKILL');
const node = rows.find((r) => r.runtime === 'node' && r.msWindow);
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`;
const table = [
  `| runtime | version | WASM build | ms/step, fastest window | vs Node | ms/step, median window | vs Node | fastest single step |`,
  '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => {
    if (r.error) return `| ${r.runtime} | - | - | failed: ${r.error.split('\n')[0]} | - | - | - | - |`;
    const build = /relaxed/.test(r.backend) ? 'relaxed SIMD' : 'SIMD';
    const ratio = (k) => (node ? `${(r[k] / node[k]).toFixed(2)}x` : '-');
    return `| ${r.runtime} | ${r.version} | ${build} | ${r.msWindowMin.toFixed(2)} | ${ratio('msWindowMin')} | ${r.msWindow.toFixed(2)} | ${ratio('msWindow')} | ${r.msMin === undefined ? '-' : r.msMin.toFixed(2)} |`;
  }),
  '',
  `${new Date().toISOString().slice(0, 10)}, ${machine}, ${ROUNDS} windows of ${steps} steps per runtime, runtimes one after another in one run${load ? `, ${load} busy loops beside them` : ''}${rows.some((r) => r.note) ? '; workerd ' + rows.find((r) => r.note).note : ''}. The single step is timed in-process (not in workerd) and not compared.`,
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
writeFileSync(join(root, 'bench', 'results', load ? 'runtimes-load.json' : 'runtimes.json'), JSON.stringify({ tool: 'bench/runtimes.mjs', date: new Date().toISOString(), machine, steps, load, rows }, null, 2) + '\n');
process.exit(rows.some((r) => r.error) ? 1 : 0);
