#!/usr/bin/env node
/**
 * Throughput of WebAssembly's relaxed i8 dot product (`i32x4.relaxed_dot_i8x16_i7x16_add_s`: 16
 * multiply-adds and the accumulate in one instruction; x86 VNNI has it as one `vpdpbusd`) against
 * base SIMD's `i32x4.dot_i16x8_s` + `i32x4.add` (8 multiply-adds, what kvpack's integer kernels use),
 * on every engine here: Node (`--experimental-wasm-relaxed-simd` on Node 20), Deno, Bun and headless
 * Chromium, in one run on one machine (docs/decisions.md#D155). Each kernel is a loop of 8
 * independent accumulators (throughput, not latency); each engine also checks the relaxed result
 * against a base-SIMD reference, before and after its optimizing tier takes over.
 *
 *   nice -n 10 node bench/relaxed-dot.mjs [--iters 20000000] [--rounds 5] [--only node,deno,bun,chromium]
 *
 * Prints a table and writes bench/results/relaxed-dot.json (with the CPU model and its VNNI flags).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModule } from './relaxed-dot/module.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
const iters = Number(arg('--iters', '20000000')), rounds = Number(arg('--rounds', '5'));
const only = arg('--only', 'node,deno,bun,chromium').split(',');
const BIN = {
  deno: join(root, 'node_modules', '.bin', 'deno'),
  bun: join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun'),
  chromium: process.env.KVPACK_CHROMIUM ?? '/usr/bin/chromium',
};
const dir = mkdtempSync(join(tmpdir(), 'kvpack-relaxed-'));
const wasm = join(dir, 'relaxed-dot.wasm');
const bytes = buildModule();
writeFileSync(wasm, bytes);
const runner = join(root, 'bench', 'relaxed-dot', 'run.mjs');

function sub(cmd, args, env = {}) {
  if (!existsSync(cmd)) return { error: `${cmd} not found` };
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, killSignal: 'SIGKILL', env: { ...process.env, ...env } });
  if (r.status !== 0) return { error: `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(-400)}` };
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

async function chromium() {
  if (!existsSync(BIN.chromium)) return { error: `${BIN.chromium} not found (apt-get install chromium)` };
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({ executablePath: BIN.chromium, headless: true, timeout: 60_000, userDataDir: mkdtempSync(join(tmpdir(), 'kvr-chr-')),
    args: ['--no-sandbox', '--headless=new', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(180_000);
    const src = readFileSync(join(root, 'bench', 'relaxed-dot', 'measure.mjs'), 'utf8').replace(/^export /gm, '');
    const r = await page.evaluate(`(async () => { ${src}; return measure(new Uint8Array(${JSON.stringify(Array.from(bytes))}), ${iters}, ${rounds}); })()`);
    const version = (await browser.version()).replace(/^\D+\//, '');
    return { version, engine: `V8 (Chromium ${version.split('.')[0]})`, ...r };
  } finally {
    await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
  }
}

const RUNNERS = {
  node: () => sub(process.execPath, ['--experimental-wasm-relaxed-simd', runner, wasm, String(iters), String(rounds)]),
  deno: () => sub(BIN.deno, ['run', '-A', runner, wasm, String(iters), String(rounds)], { XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'kvr-')) }),
  bun: () => sub(BIN.bun, ['--no-install', runner, wasm, String(iters), String(rounds)]),
  chromium,
};

const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
const family = readFileSync('/proc/cpuinfo', 'utf8').match(/^cpu family\s*:\s*(\d+)/m)?.[1];
const model = readFileSync('/proc/cpuinfo', 'utf8').match(/^model\s*:\s*(\d+)/m)?.[1];
const machine = { cpu: cpus()[0]?.model ?? 'unknown', family, model, cores: cpus().length,
  vnni: flags.filter((f) => /vnni|amx/.test(f)), avx512f: flags.includes('avx512f') };
const rows = [];
for (const name of only) {
  process.stderr.write(`bench/relaxed-dot: ${name}...\n`);
  try { rows.push({ runtime: name, ...(await RUNNERS[name]()) }); } catch (e) { rows.push({ runtime: name, error: String(e.message ?? e) }); }
}
const f = (x, d = 2) => (x === undefined ? '-' : x.toFixed(d));
const ok = (c) => (c ? (c.ok ? 'ok' : `WRONG (${c.got} != ${c.want})`) : '-');
console.log(`${machine.cpu} (family ${family} model ${model}), ${machine.cores} cores, flags: ${machine.vnni.join(' ') || 'no VNNI'}${machine.avx512f ? ', avx512f' : ''}`);
console.log('| runtime | engine | ns / dot_i16x8_s + add | ns / relaxed dot | MAC/ns i16 | MAC/ns relaxed | relaxed / i16 | relaxed result (first call / optimized) |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
for (const r of rows) {
  if (r.error) { console.log(`| ${r.runtime} | error: ${r.error.replace(/\n/g, ' ')} |`); continue; }
  if (!r.valid) { console.log(`| ${r.runtime} ${r.version} | ${r.engine} | module rejected (no relaxed SIMD) |`); continue; }
  console.log(`| ${r.runtime} ${r.version} | ${r.engine} | ${f(r.nsPerDot16, 3)} | ${f(r.nsPerRelaxed, 3)} | ${f(r.macPerNsDot16, 1)} | ${f(r.macPerNsRelaxed, 1)} | ${f(r.relaxedOverDot16)}x | ${ok(r.checkFirstCall)} / ${ok(r.checkAfter)} |`);
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'relaxed-dot.json'),
  JSON.stringify({ date: new Date().toISOString(), machine, iters, rounds, command: `node bench/relaxed-dot.mjs --iters ${iters} --rounds ${rounds}`, rows }, null, 1) + '\n');
