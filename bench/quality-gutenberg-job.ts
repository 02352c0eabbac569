/**
 * Issue #20's full study as independent units, so it can run on many cores (docs/QUALITY.md,
 * "How the study was run"; docs/decisions.md#D124). Bundled by bench/quality-gutenberg-job.sh.
 *
 *   calibrate --model M --calib-text train.txt.gz --tokens N --codecs a,b [--kinds key|value] --out calib.json
 *       captures N training tokens (whole-window pass) and calibrates every codec of the pairings
 *       that has a calibrate hook (CQ k-means in WASM, SKVQ, QAQ's qMax): one JSON object keyed
 *       like CaptureCalibrator's memo. Calibration never reads the evaluation text.
 *   units --codecs a,b --ctx 4096:0:16:1,2048:0:32:2 > units.txt
 *       one line per (pairing, ctx, first window, windows) for CTX:FROM:TO:PER, window-major: the
 *       work list, in the order given.
 *   unit --model M --text T --calib calib.json --spec S --ctx N --first I --count K --out r.ndjson
 *       evaluates windows I..I+K-1 of ctx tokens of T (non-overlapping, as kvpack eval cuts them)
 *       and appends one JSON line (summed NLL, predictions, cache stats, CPU seconds) to r.ndjson.
 *   --extra-cq cq-4c6b,... (any command) registers CQ shapes the registry does not name.
 *   merge --out-prefix P r.ndjson...
 *       sums the units per (ctx, pairing) into P-ctxN.json files in kvpack eval's JSON shape
 *       (bench/quality-gutenberg.ts prints the tables and plots from them).
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { loadKvpackWasm } from '../ts/backends/wasm-loader.js';
import '../ts/codecs/index.js';
import { calibrateCqStream } from '../ts/codecs/cq/calibrate.js';
import { CqCodec } from '../ts/codecs/cq/codec.js';
import { cqName, parseCqName } from '../ts/codecs/cq/config.js';
import { kmeansWasm } from '../ts/codecs/cq/wasm.js';
import { codecInfo, listCodecs, registerCodec } from '../ts/codecs/registry.js';
import type { StreamKind } from '../ts/codecs/types.js';
import { KvpackError } from '../ts/errors.js';
import { calibrationKey, CaptureCalibrator, type LayerCalibrator } from '../ts/model/calibrate-from-capture.js';
import { captureKvWindows } from '../ts/model/capture-windows.js';
import { PAIRING_ROTATION_SEED, parsePairing } from '../ts/model/codec-pairing.js';
import { loadModel } from '../ts/model/load-model.js';
import { describeMachine } from '../ts/model/machine.js';
import { evaluatePerplexity } from '../ts/model/perplexity.js';
import { tokenizeLines } from '../ts/model/text-split.js';

const argv = process.argv.slice(2);
const cmd = argv[0];
const flags = new Map<string, string>();
const rest: string[] = [];
for (let i = 1; i < argv.length; i++) {
  if (argv[i]!.startsWith('--')) flags.set(argv[i]!.slice(2), argv[++i] ?? '');
  else rest.push(argv[i]!);
}
const need = (k: string): string => {
  const v = flags.get(k);
  if (v === undefined) throw new KvpackError('BAD_PARAM', 'is required', `--${k}`);
  return v;
};
const linesOf = (text: string): string[] => text.split(/\r?\n/).filter((l) => l.trim().length > 0);
const readText = (path: string): string => {
  const b = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
};
// CQ shapes the registry does not name (e.g. cq-4c6b, 1.5 bits per channel), registered for this
// process only, as ts/codecs/cq/index.ts registers the paper's: --extra-cq cq-4c6b,cq-8c6b
for (const name of (flags.get('extra-cq') ?? '').split(',').filter(Boolean)) {
  const cfg = parseCqName(name);
  if (!listCodecs().some((c) => c.name === cqName(cfg))) {
    registerCodec({
      name: cqName(cfg), summary: `CQ ${name} (bench only)`, streams: ['key', 'value'], needsCalibration: true,
      create: (ctx) => new CqCodec(cfg, ctx), calibrate: (sample) => calibrateCqStream(sample.data, sample, { ...cfg }),
    });
  }
}
/** Calibrations computed beforehand (the `calibrate` step), looked up as CaptureCalibrator would compute them. */
class StoredCalibrator implements LayerCalibrator {
  constructor(private readonly table: Record<string, unknown>) {}
  forLayer(codec: string, kind: StreamKind, layer: number, fisher = false, extra: Record<string, unknown> = {}, rotation?: number): unknown {
    const info = codecInfo(codec);
    if (!info.calibrate) return undefined;
    // rotated calibrations (@rk / @rv) are stored under their own keys (decisions.md#D31)
    const k = calibrationKey(codec, kind, layer, fisher, extra, rotation);
    if (!(k in this.table)) throw new KvpackError('BAD_CALIBRATION', `no stored calibration for ${k}`, 'calib');
    return this.table[k];
  }
}

async function calibrate(): Promise<void> {
  const { model, tokenizer } = await loadModel(need('model'));
  const c = model.config;
  // the first lines of the training text, enough for N tokens (a line is at least 2 tokens)
  const n = Number(need('tokens')), lines = linesOf(readText(need('calib-text')));
  let tokens: number[] = [];
  for (let i = 0; i < lines.length && tokens.length < n; i += 64) tokens = tokens.concat(tokenizeLines(tokenizer, lines.slice(i, i + 64)));
  tokens = tokens.slice(0, n);
  const t0 = performance.now();
  const cap = await captureKvWindows(model, tokens, { onProgress: (d, t) => process.stderr.write(`capture ${d}/${t}\n`) });
  process.stderr.write(`capture: ${cap.nTokens} tokens, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  const calibrator = new CaptureCalibrator(cap, c);
  const kmeans = kmeansWasm(await loadKvpackWasm());
  const table: Record<string, unknown> = {};
  // --kinds key or value: one stream's calibrations only (run.sh splits the work per codec and stream)
  const kinds = (flags.get('kinds') ?? 'key,value').split(',') as StreamKind[];
  for (const k of kinds) if (k !== 'key' && k !== 'value') throw new KvpackError('BAD_PARAM', `must be key and/or value, got '${k}'`, '--kinds');
  for (const spec of need('codecs').split(',')) {
    const p = parsePairing(spec);
    const group = p.group !== undefined ? { groupSize: p.group } : {};
    for (const kind of kinds) {
      const codec = p[kind];
      if (!codecInfo(codec).calibrate) continue;
      // a rotated stream calibrates on rotated rows, stored under its own key (decisions.md#D31)
      const rotation = p.rotate?.[kind] ? PAIRING_ROTATION_SEED : undefined;
      for (let l = 0; l < c.nLayers; l++) {
        const k = calibrationKey(codec, kind, l, !!p.fisher, group, rotation);
        if (k in table) continue;
        const t1 = performance.now();
        // CQ: the registry hook runs the TS k-means; the WASM one gives the same centroids bit
        // for bit (tests/conformance/cq-wasm.test.ts) in a fraction of the time
        table[k] = codec.startsWith('cq-') && !p.fisher
          ? calibrateCqStream(calibrator.rows(kind, l, rotation).data,
            { kind, nKvHeads: c.nKvHeads, headDim: c.headDim }, { ...parseCqName(codec), kmeans })
          : calibrator.forLayer(codec, kind, l, !!p.fisher, group, rotation);
        process.stderr.write(`calibrated ${k} in ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);
      }
    }
  }
  writeFileSync(need('out'), JSON.stringify({ tokens: cap.nTokens, source: need('calib-text'), table }));
}

function units(): void {
  const specs = need('codecs').split(',');
  for (const s of specs) parsePairing(s);
  const lines: string[] = [];
  // CTX:FROM:TO:PER, window-major: a run cut short keeps every pairing on the same windows
  for (const part of need('ctx').split(',')) {
    const [ctx, from, to, per] = part.split(':').map(Number) as [number, number, number, number];
    for (let w = from; w < to; w += per) for (const s of specs) lines.push(`${s} ${ctx} ${w} ${Math.min(per, to - w)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function unit(): Promise<void> {
  const cpu0 = process.cpuUsage();
  const spec = need('spec'), ctx = Number(need('ctx')), first = Number(need('first')), count = Number(need('count'));
  const p = parsePairing(spec);
  const { model, tokenizer } = await loadModel(need('model'));
  const tokens = tokenizeLines(tokenizer, linesOf(readFileSync(need('text'), 'utf8')));
  if ((first + count) * ctx > tokens.length) throw new KvpackError('BAD_PARAM', `windows ${first}..${first + count - 1} of ${ctx} pass the text's ${tokens.length} tokens`, '--first');
  const calib = flags.has('calib') ? JSON.parse(readFileSync(need('calib'), 'utf8')) as { table: Record<string, unknown> } : undefined;
  // every pairing, QAQ included (docs/decisions.md#D38), in one pass per window
  const r = await evaluatePerplexity(model, tokens.slice(first * ctx, (first + count) * ctx), p, {
    ctx, maxWindows: count, ...(calib ? { calibrator: new StoredCalibrator(calib.table) } : {}), mode: 'window',
  });
  const cpu = process.cpuUsage(cpu0);
  appendFileSync(need('out'), JSON.stringify({
    spec, ctx, first, count, nllSum: r.nll * r.predicted, predicted: r.predicted, cache: r.cache, mode: r.mode,
    backend: r.backend, seconds: r.seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }) + '\n');
}

interface UnitLine {
  spec: string; ctx: number; first: number; count: number; nllSum: number; predicted: number;
  cache: Record<string, number>; mode: string; backend: string; cpuSeconds: number;
}

function merge(): void {
  const all = rest.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as UnitLine));
  // a unit run twice (two machines, a rerun) counts once: units are deterministic (D124)
  const seen = new Set<string>();
  const lines = all.filter((u) => {
    const k = `${u.spec} ${u.ctx} ${u.first} ${u.count}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  const prefix = need('out-prefix');
  const byCtx = new Map<number, Map<string, UnitLine[]>>();
  const span = (u: UnitLine): number[] => Array.from({ length: u.count }, (_, i) => u.first + i);
  // units of one pairing that overlap (a rerun in larger units beside older one-window units):
  // largest first, a unit counts only where it adds windows none counted yet covers
  const cover = (us: UnitLine[], within?: Set<number>): UnitLine[] => {
    const got = new Set<number>(), out: UnitLine[] = [];
    for (const u of [...us].sort((a, b) => b.count - a.count || a.first - b.first)) {
      const w = span(u);
      if (w.some((x) => got.has(x)) || (within && !w.every((x) => within.has(x)))) continue;
      w.forEach((x) => got.add(x));
      out.push(u);
    }
    return out;
  };
  const allByCtxSpec = new Map<string, UnitLine[]>();
  for (const u of lines) allByCtxSpec.set(`${u.ctx} ${u.spec}`, [...(allByCtxSpec.get(`${u.ctx} ${u.spec}`) ?? []), u]);
  for (const [, us] of allByCtxSpec) for (const u of us) if (!cover(us).includes(u)) lines.splice(lines.indexOf(u), 1);
  for (const u of lines) {
    const m = byCtx.get(u.ctx) ?? new Map<string, UnitLine[]>();
    byCtx.set(u.ctx, m);
    m.set(u.spec, [...(m.get(u.spec) ?? []), u]);
  }
  for (const [ctx, m] of byCtx) {
    const fp = m.get('fp32');
    if (!fp) throw new KvpackError('BAD_PARAM', `ctx ${ctx}: no fp32 units`, 'merge');
    // every fp32 unit of this ctx, also those the fp32 row's cover left out (a row on windows 0-3
    // finds its baseline in one-window units when the row's fp32 ran in units of 8)
    const fpAll = allByCtxSpec.get(`${ctx} fp32`)!;
    const results = [...m].map(([spec, us]) => {
      const windows = new Set(us.flatMap((u) => Array.from({ length: u.count }, (_, i) => u.first + i)));
      const nll = us.reduce((a, u) => a + u.nllSum, 0), predicted = us.reduce((a, u) => a + u.predicted, 0);
      // fp32 on exactly these windows, so the delta compares like with like
      const fpShared = cover(fpAll, windows);
      const fpCovered = new Set(fpShared.flatMap((u) => Array.from({ length: u.count }, (_, i) => u.first + i)));
      const p = parsePairing(spec);
      return {
        label: spec, key: p.key, value: p.value, window: p.window ?? null, sinks: p.sinks, ctx,
        windows: windows.size, windowIndices: [...windows].sort((a, b) => a - b), predicted, nll: nll / predicted,
        perplexity: Math.exp(nll / predicted), cache: us[0]!.cache, mode: us[0]!.mode, backend: us[0]!.backend,
        cpuSeconds: us.reduce((a, u) => a + u.cpuSeconds, 0),
        fp32OnSameWindows: fpCovered.size === windows.size
          ? Math.exp(fpShared.reduce((a, u) => a + u.nllSum, 0) / fpShared.reduce((a, u) => a + u.predicted, 0)) : null,
      };
    });
    const base = results.find((r) => r.label === 'fp32')!;
    const doc = {
      command: `bench/quality-gutenberg-job.sh (units merged by quality-gutenberg-job merge)`, date: new Date().toISOString(),
      machine: flags.get('machine') ?? describeMachine(), complete: results.every((r) => r.windows === base.windows),
      ctx, windows: base.windows, calibration: flags.has('calib-note') ? flags.get('calib-note') : undefined,
      results: results.map((r) => ({ ...r, deltaVsFp32Percent: 100 * (r.perplexity / (r.fp32OnSameWindows ?? base.perplexity) - 1) })),
    };
    writeFileSync(`${prefix}-ctx${ctx}.json`, JSON.stringify(doc, null, 2) + '\n');
    process.stderr.write(`wrote ${prefix}-ctx${ctx}.json (${results.length} rows)\n`);
  }
}

const run = cmd === 'calibrate' ? calibrate : cmd === 'units' ? units : cmd === 'unit' ? unit : cmd === 'merge' ? merge : undefined;
if (!run) {
  process.stderr.write('usage: quality-gutenberg-job.mjs calibrate|units|unit|merge ... (see the header of bench/quality-gutenberg-job.ts)\n');
  process.exit(2);
}
await run();
