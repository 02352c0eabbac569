#!/usr/bin/env node
/**
 * Why workerd runs kvpack's WASM kernels slower than Node (docs/decisions.md D162, D165): the same
 * handler (bench/workerd-wasm/handler.js) served by Node and by workerd on 127.0.0.1, timed the
 * same way from this client, interleaved round by round, so every ratio is measured in one run:
 *   ms per kernel call = (time of a request of N calls - time of a request of 0) / N
 * fastest: (fastest request of N - fastest request of 0) / N over the rounds; median likewise
 * (workerd's clock stands still while a request computes, so the client times every runtime).
 * Kernels: `loop` (load-loop.mjs: a dot product of v128 loads, no kvpack code), `kivi2-int` and
 * `kivi2-float` (one decode attention of the edge workload with kvpack's integer or float
 * kernels), `q8_0` and `fp32` (the same attention over other codecs, float kernels only).
 * Servers: node and workerd, and diagnostics that isolate the cause (V8 flags; the no-checks ones
 * are unsafe, bench diagnostics, never deployment settings):
 *   node/enforce-checks  node --wasm-enforce-bounds-checks: an explicit bounds check before every
 *                        memory access, as V8 compiles WASM where no trap handler is installed
 *   node/no-checks       node --no-wasm-bounds-checks: no checks and no trap-handler protection
 *   workerd/no-checks    workerd with v8Flags = ["--no-wasm-bounds-checks"]
 * and reports whether V8's WASM trap handler is on in each runtime (%IsWasmTrapHandlerEnabled()).
 * Prints min and median per (kernel, server) and each one's ratio to node; writes
 * bench/results/workerd-wasm.json (build/bench/workerd-wasm-partial.json for --only, --ab or fewer
 * than 15 rounds). Needs `npm run build` (dist/) and npm `workerd`.
 * `--ab DIR` adds node@ab and workerd@ab serving the kvpack build in DIR (index.js, kvpack.wasm): an
 * A/B of a kernel change against a baseline dist/ in the same interleaved rounds.
 * Usage: nice -n 10 node bench/workerd-wasm.mjs [--rounds 15] [--n 50] [--only node,workerd] [--ab DIR]
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLoopWasm } from './workerd-wasm/load-loop.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
const rounds = Number(arg('--rounds', '15'));
const N = Number(arg('--n', '50'));
const LIMIT_S = 900; // every server this bench starts is killed after this, whatever happens here
const dist = join(root, 'dist');
const ab = arg('--ab', undefined); // another build's dist/ (an A/B): adds node@ab and workerd@ab
const workerdBin = join(root, 'node_modules', '.bin', 'workerd');
for (const f of [join(dist, 'index.js'), join(dist, 'kvpack.wasm'), workerdBin, ...(ab ? [join(ab, 'index.js'), join(ab, 'kvpack.wasm')] : [])]) {
  if (!existsSync(f)) { console.error(`bench/workerd-wasm: ${f} missing (npm ci; npm run build)`); process.exit(1); }
}

// One folder holds both runtimes' files, so they run byte-identical code (one more for --ab).
const tmp = mkdtempSync(join(tmpdir(), 'kvpack-workerd-wasm-'));
function folder(name, from) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  copyFileSync(join(from, 'index.js'), join(dir, 'kvpack.js'));
  copyFileSync(join(from, 'kvpack.wasm'), join(dir, 'kvpack.wasm'));
  copyFileSync(join(root, 'examples', 'edge-worker', 'workload.js'), join(dir, 'workload.js'));
  for (const f of ['handler.js', 'worker.js', 'node-server.mjs', 'load-loop.mjs']) copyFileSync(join(root, 'bench', 'workerd-wasm', f), join(dir, f));
  writeFileSync(join(dir, 'load-loop.wasm'), loadLoopWasm());
  return dir;
}
const dir = folder('this', dist);
const abDir = ab ? folder('ab', ab) : undefined;

const capnp = (v8Flags, main = 'worker.js') => `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
  v8Flags = [${v8Flags.map((f) => JSON.stringify(f)).join(', ')}],
);
const w :Workerd.Worker = (
  modules = [
    (name = "${main}", esModule = embed "${main}"),
    (name = "handler.js", esModule = embed "handler.js"),
    (name = "load-loop.mjs", esModule = embed "load-loop.mjs"),
    (name = "workload.js", esModule = embed "workload.js"),
    (name = "kvpack.js", esModule = embed "kvpack.js"),
    (name = "kvpack.wasm", wasm = embed "kvpack.wasm"),
    (name = "load-loop.wasm", wasm = embed "load-loop.wasm"),
  ],
  compatibilityDate = "2025-09-01",
);
`;
writeFileSync(join(dir, 'workerd.capnp'), capnp([]));
if (abDir) writeFileSync(join(abDir, 'workerd.capnp'), capnp([]));
writeFileSync(join(dir, 'workerd-no-checks.capnp'), capnp(['--no-wasm-bounds-checks']));
// whether V8's WASM trap handler is on: a V8 runtime function, callable with --allow-natives-syntax
writeFileSync(join(dir, 'probe.js'), 'export default { fetch: () => new Response(String(%IsWasmTrapHandlerEnabled())) };\n');
writeFileSync(join(dir, 'workerd-probe.capnp'), capnp(['--allow-natives-syntax'], 'probe.js'));

const serve = (config) => (port) => [workerdBin, ['serve', config, '--socket-addr', `http=127.0.0.1:${port}`]];
const SERVERS = {
  node: (port) => [process.execPath, ['node-server.mjs', port, LIMIT_S]],
  'node/enforce-checks': (port) => [process.execPath, ['--wasm-enforce-bounds-checks', 'node-server.mjs', port, LIMIT_S]],
  'node/no-checks': (port) => [process.execPath, ['--no-wasm-bounds-checks', 'node-server.mjs', port, LIMIT_S]],
  workerd: serve('workerd.capnp'),
  'workerd/no-checks': serve('workerd-no-checks.capnp'),
};
const AB = abDir ? { 'node@ab': SERVERS.node, 'workerd@ab': SERVERS.workerd } : {};
const names = [...arg('--only', Object.keys(SERVERS).join(',')).split(','), ...Object.keys(AB)];
if (!names.includes('node') || names.some((n) => !SERVERS[n] && !AB[n])) { console.error(`--only: node plus any of ${Object.keys(SERVERS).join(', ')}`); process.exit(1); }
const KERNELS = ['loop', 'kivi2-int', 'kivi2-float', 'q8_0', 'fp32'];

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const procs = [];
// Each server is a process group (npm's workerd is a Node shim that starts the binary): killing
// the group ends the binary too, where killing the shim alone would leave workerd running.
const killAll = () => { for (const p of procs) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } } };
process.on('exit', killAll);
const hardStop = setTimeout(() => { console.error(`bench/workerd-wasm: stopped after ${LIMIT_S} s`); process.exit(2); }, LIMIT_S * 1000);
hardStop.unref();

async function request(url) {
  const t0 = performance.now();
  const r = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  const body = await r.json();
  if (!r.ok) throw new Error(`${url}: ${JSON.stringify(body)}`);
  return { ms: performance.now() - t0, body };
}

/** Starts a server; resolves with its URL once `path` answers (30 s: workerd compiles at load). */
async function start(name, command, path, cwd = dir) {
  const port = await freePort();
  const [cmd, args] = command(String(port));
  let log = '';
  const p = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d) => { log += d; });
  p.stderr.on('data', (d) => { log += d; });
  procs.push(p);
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 120; i++) {
    if (p.exitCode !== null) break;
    try { return { url, proc: p, text: await (await fetch(url + path, { signal: AbortSignal.timeout(60_000) })).text() }; } catch { await new Promise((r) => setTimeout(r, 250)); }
  }
  throw new Error(`${name} did not answer: ${log.slice(-600)}`);
}

try {
  const probe = await start('workerd probe', serve('workerd-probe.capnp'), '');
  process.kill(-probe.proc.pid, 'SIGKILL');
  const nodeProbe = spawnSync(process.execPath, ['--allow-natives-syntax', '-p', '%IsWasmTrapHandlerEnabled()'], { encoding: 'utf8', timeout: 20_000 });
  const trapHandler = { node: nodeProbe.stdout.trim() === 'true', workerd: probe.text.trim() === 'true' };
  const base = {};
  for (const name of names) base[name] = (await start(name, SERVERS[name] ?? AB[name], '?k=loop&n=0', AB[name] ? abDir : dir)).url;
  process.stderr.write(`bench/workerd-wasm: ${names.join(', ')} up; warming up\n`);
  const desc = {};
  for (const name of names) for (const k of KERNELS) desc[k] = (await request(`${base[name]}?k=${k}&n=${k === 'loop' ? 200 : 20}`)).body.desc;
  const ms = {};
  for (let r = 0; r < rounds; r++) {
    for (const k of KERNELS) {
      // rotate the server order every round: none is always first after another's burst
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + r) % names.length];
        const empty = await request(`${base[name]}?k=${k}&n=0`);
        const full = await request(`${base[name]}?k=${k}&n=${N}`);
        const m = ((ms[k] ??= {})[name] ??= { empty: [], full: [] });
        m.empty.push(empty.ms);
        m.full.push(full.ms);
      }
    }
    process.stderr.write(`bench/workerd-wasm: round ${r + 1}/${rounds}\n`);
  }
  const sorted = (a) => [...a].sort((x, y) => x - y);
  const stat = ({ empty, full }) => {
    const e = sorted(empty), f = sorted(full);
    return { min: (f[0] - e[0]) / N, median: (f[f.length >> 1] - e[e.length >> 1]) / N };
  };
  const rows = [];
  for (const k of KERNELS) {
    const node = stat(ms[k].node);
    for (const name of names) {
      const s = stat(ms[k][name]);
      rows.push({ kernel: k, server: name, msMin: s.min, msMedian: s.median, vsNodeMin: s.min / node.min, vsNodeMedian: s.median / node.median, requestMs: ms[k][name] });
    }
  }
  const version = spawnSync(workerdBin, ['--version'], { encoding: 'utf8', timeout: 20_000 }).stdout.trim();
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`;
  console.log(`ms per kernel call, client-timed ((request of ${N} - request of 0) / ${N}, fastest and median requests), ${rounds} interleaved rounds; ${machine}`);
  console.log(`node ${process.versions.node} (V8 ${process.versions.v8}), ${version}; V8's WASM trap handler on: node ${trapHandler.node}, workerd ${trapHandler.workerd}`);
  console.log('| kernel | server | ms, fastest | vs node | ms, median | vs node |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.kernel} | ${r.server} | ${r.msMin.toFixed(3)} | ${r.vsNodeMin.toFixed(2)}x | ${r.msMedian.toFixed(3)} | ${r.vsNodeMedian.toFixed(2)}x |`);
  // an A/B, a subset of servers or fewer rounds is a partial result: build/bench/, not bench/results/
  const partial = ab || process.argv.includes('--only') || rounds < 15;
  const out = partial ? join(root, 'build', 'bench', 'workerd-wasm-partial.json') : join(root, 'bench', 'results', 'workerd-wasm.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({
    tool: 'bench/workerd-wasm.mjs', date: new Date().toISOString(), machine, node: process.versions.node, nodeV8: process.versions.v8,
    workerd: version, trapHandler, ab: ab ?? null, rounds, callsPerRequest: N, kernels: desc, rows }, null, 2) + '\n');
} finally {
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
