import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { chooseBackend, BACKEND_ORDER } from '../backends/detect.js';
import { TsBackend } from '../backends/ts-backend.js';
import type { AttentionBackend, BackendName } from '../backends/types.js';
import { loadKvpackWasm, wasmSimdSupported } from '../backends/wasm-loader.js';
import '../codecs/index.js';
import { kmeansWasm } from '../codecs/cq/wasm.js';
import { codecInfo } from '../codecs/registry.js';
import { KvpackError } from '../errors.js';
import { CaptureCalibrator, type LayerCalibrator } from '../model/calibrate-from-capture.js';
import { parseTuneConfig, tunePairing } from '../model/tune.js';
import { readTuneConfig } from './tune.js';
import { captureKv } from '../model/capture.js';
import { captureKvWindows } from '../model/capture-windows.js';
import { gunzipSync } from 'node:zlib';
import { defaultPairings, parsePairing, type CodecPairing } from '../model/codec-pairing.js';
import { loadKvCapture } from '../model/kv-capture-file.js';
import type { KvCapture } from '../model/kv-capture.js';
import { loadModel } from '../model/load-model.js';
import { describeMachine } from '../model/machine.js';
import { paretoSvg } from '../model/pareto-svg.js';
import { evaluatePerplexity, type PerplexityResult } from '../model/perplexity.js';
import { splitText, tokenizeLines } from '../model/text-split.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';
import { ProgressBar } from './progress-bar.js';

const FLAGS = {
  model: { type: 'string', help: 'model folder or checkpoint file (e.g. ../shared/models/stories260K)' },
  text: { type: 'string', help: 'one-document-per-line text; perplexity on its first 80% of lines' },
  codecs: { type: 'list', help: 'pairings KEY[:VALUE][@wN][@sN][@gN][@rk][@rv][@fisher], comma-separated (@rk / @rv: Hadamard rotation of keys / values, calibrated codecs calibrate rotated); \'default\' = every registered codec (the default)' },
  ctx: { type: 'int', min: 2, help: 'context length = tokens per window (default: the model\'s seq_len)' },
  windows: { type: 'int', min: 1, help: 'evaluate at most this many windows (default: all full windows)' },
  batch: { type: 'int', default: 4, min: 1, help: 'windows decoded together as sequences of one cache' },
  backend: { type: 'string', choices: ['auto', ...BACKEND_ORDER], default: 'auto', help: 'attention backend' },
  calib: { type: 'string', help: '.kvcap from `kvpack capture` (default: capture the calibration split now)' },
  'calib-text': { type: 'string', help: 'calibrate on this one-document-per-line text (.gz read as gzip) instead of the last 20% of --text, which is then evaluated whole' },
  mode: { type: 'string', choices: ['auto', 'window', 'step'], default: 'auto', help: 'window: each window in one pass, same numbers as step by step (QAQ included); step: token by token through --backend; auto: window' },
  'calib-tokens': { type: 'int', default: 2048, min: 1, help: 'tokens captured when --calib is not given' },
  json: { type: 'string', help: 'write results as JSON here' },
  svg: { type: 'string', help: 'write the perplexity-vs-bits plot (SVG) here' },
  config: { type: 'string', help: 'evaluate the configuration `kvpack tune --out` wrote (its pairing, @rk / @rv rotation with its seed, and calibration; versions 1-2) instead of --codecs' },
} as const;

export const usage = `kvpack eval --model DIR --text FILE [--codecs a,b:c@w32,...] [--ctx N] [--json out] [--svg out]

Perplexity of a real model with its KV cache held by each codec pairing, the way the KV-cache
papers measure it: non-overlapping windows of --ctx tokens of the evaluation split (first 80% of
lines, or all of --text with --calib-text), every token attending over the packed cache of the
preceding ones as decoding would hold it. Codecs that need calibration are calibrated on the
other 20% of lines (or on --calib-text). fp32 is always evaluated (the
baseline of the delta column). Details: docs/QUALITY.md.
${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  for (const k of ['model', 'text'] as const) if (!f[k]) throw new KvpackError('BAD_PARAM', 'is required', `--${k}`);
  // 'default' expands to every registered codec, so a run can add variants: --codecs default,kivi2@w32
  if (f.config && (f.codecs || f.calib)) throw new KvpackError('BAD_PARAM', '--config brings its own pairing and calibration: drop --codecs / --calib', '--config');
  const tuned = f.config ? await readTuneConfig(f.config) : undefined;
  // a config's pairing carries its rotation seed (tunePairing); names: unknown codecs fail here, before any work
  const pairings: CodecPairing[] = tuned ? [tunePairing(tuned).pairing]
    : [...new Set((f.codecs ?? ['default']).flatMap((s) => (s === 'default' ? defaultPairings() : [s])))].map(parsePairing);
  if (!pairings.some((p) => p.key === 'fp32' && p.value === 'fp32' && !p.window && p.sinks === 0)) pairings.unshift(parsePairing('fp32'));

  const loaded = await loadModel(f.model!);
  const { model, tokenizer } = loaded;
  if (tuned) parseTuneConfig(tuned, model.config);
  const ctx = f.ctx ?? model.config.seqLen;
  if (ctx > model.config.seqLen) throw new KvpackError('BAD_PARAM', `must be at most the model's seq_len=${model.config.seqLen}`, '--ctx');
  const split = f['calib-text']
    ? { evaluation: linesOf(await readFile(f.text!, 'utf8')), calibration: linesOf(await readText(f['calib-text'])) }
    : splitText(await readFile(f.text!, 'utf8'));
  const tokens = tokenizeLines(tokenizer, split.evaluation);
  const windows = Math.min(Math.floor(tokens.length / ctx), f.windows ?? Infinity);
  if (windows < 1) throw new KvpackError('BAD_PARAM', `evaluation split has ${tokens.length} tokens: no full window of ${ctx}`, '--ctx');

  const { backend, report } = await chooseBackend({
    ...(f.backend !== 'auto' ? { prefer: f.backend as BackendName } : {}), env: io.env, log: (l) => io.err(`kvpack eval: ${l}\n`),
  });
  io.err(`kvpack eval: backend ${report.chosen} (${report.description})\n`);

  let calibrator: LayerCalibrator | undefined;
  let calibration: Record<string, unknown> = { used: false };
  if (tuned) {
    calibrator = tunePairing(tuned).calibrator;
    calibration = { used: true, source: f.config };
  } else if (pairings.some((p) => codecInfo(p.key).needsCalibration || codecInfo(p.value).needsCalibration)) {
    let cap: KvCapture;
    if (f.calib) {
      cap = await loadKvCapture(f.calib);
      calibration = { used: true, source: f.calib, tokens: cap.nTokens };
    } else {
      const calTokens = tokenizeLines(tokenizer, split.calibration).slice(0, f['calib-tokens']);
      const bar = new ProgressBar(io, 'capture calibration', calTokens.length);
      // Fisher weights need a backward pass per window: only when a pairing asks for them
      const fisher = pairings.some((p) => p.fisher);
      cap = fisher || f.mode === 'step'
        ? await captureKv(model, calTokens, { fisher, onProgress: (d) => bar.update(d) })
        : await captureKvWindows(model, calTokens, { onProgress: (d) => bar.update(d) });
      bar.done();
      calibration = { used: true, source: f['calib-text'] ?? `calibration split (${split.calibration.length} lines)`, tokens: cap.nTokens };
    }
    // CQ's k-means in WASM where it runs: the same centroids as the TS default (cq-wasm conformance), faster
    calibrator = new CaptureCalibrator(cap, model.config, wasmSimdSupported() ? { kmeans: kmeansWasm(await loadKvpackWasm()) } : {});
  }

  const results: (PerplexityResult & { note?: string })[] = [];
  const machine = describeMachine();
  const writeJson = async (rows: typeof results, complete: boolean): Promise<void> => {
    const base = rows.find((r) => r.key === 'fp32' && r.value === 'fp32' && !r.window && r.sinks === 0);
    await mkdir(dirname(f.json!), { recursive: true });
    const doc = {
      command: `kvpack eval ${argv.join(' ')}`, date: new Date().toISOString(), machine, backend: report, complete,
      model: { path: f.model, files: loaded.files, format: model.format, config: model.config },
      text: { path: f.text, evaluationLines: split.evaluation.length, evaluationTokens: tokens.length, calibrationLines: split.calibration.length },
      ctx, windows, calibration,
      results: rows.map((r) => ({ ...r, ...(base ? { deltaVsFp32Percent: 100 * (r.perplexity / base.perplexity - 1) } : {}) })),
    };
    await writeFile(f.json!, JSON.stringify(doc, null, 2) + '\n');
  };
  const bar = new ProgressBar(io, '', windows * (ctx - 1));
  for (const p of pairings) {
    bar.reset(p.label.padEnd(18).slice(0, 18), windows * (ctx - 1));
    const once = (b: AttentionBackend) => evaluatePerplexity(model, tokens, p, {
      ctx, maxWindows: windows, batch: f.batch, backend: b, ...(calibrator ? { calibrator } : {}), mode: f.mode === 'auto' ? 'window' : f.mode as 'window' | 'step',
      onProgress: (d, t) => bar.update(d, `of ${t} predictions`),
    });
    let r: PerplexityResult & { note?: string };
    try {
      r = await once(backend);
    } catch (e) {
      // A backend without a kernel for this codec says BACKEND_UNAVAILABLE: measure on TS, say so.
      if (!(e instanceof KvpackError && e.code === 'BACKEND_UNAVAILABLE') || backend.name === 'ts') throw e;
      io.err(`\nkvpack eval: ${p.label}: ${backend.name} cannot run it (${e.message}); using the TS reference\n`);
      r = { ...(await once(new TsBackend())), note: `${backend.name}: ${e.message}` };
    }
    bar.done();
    results.push(r);
    // after every row, so a long run that is stopped keeps what it measured
    if (f.json) await writeJson(results, false);
  }
  backend.dispose();

  const base = results.find((r) => r.key === 'fp32' && r.value === 'fp32' && !r.window && r.sinks === 0)!;
  io.out(formatTable(results, base) + '\n');
  io.out(`ctx ${ctx}, ${windows} windows x ${ctx - 1} predictions = ${windows * (ctx - 1)} tokens scored; ` +
    `model ${loaded.files.checkpoint} (${model.config.nLayers} layers, ${model.config.nHeads}/${model.config.nKvHeads} heads, head_dim ${model.config.headDim})\n`);

  if (f.json) {
    await writeJson(results, true);
    io.err(`kvpack eval: wrote ${f.json}\n`);
  }
  if (f.svg) {
    await mkdir(dirname(f.svg), { recursive: true });
    const title = `${loaded.files.checkpoint}: perplexity vs KV-cache bits (ctx ${ctx}, ${windows * (ctx - 1)} tokens)`;
    await writeFile(f.svg, paretoSvg(results.map((r) => ({ label: r.label, bits: r.cache.effectiveBits, perplexity: r.perplexity })), title, base.perplexity));
    io.err(`kvpack eval: wrote ${f.svg}\n`);
  }
  return 0;
}

function linesOf(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim().length > 0);
}

async function readText(path: string): Promise<string> {
  const b = await readFile(path);
  return (path.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
}

/** Markdown table (renders in docs and reads fine in a terminal). */
export function formatTable(results: readonly PerplexityResult[], base: PerplexityResult): string {
  const head = ['codec (K:V@window@sinks)', 'bits/elem', 'bits w/o params', 'ratio vs fp16', 'perplexity', 'delta vs fp32', 'tok/s', 'backend'];
  const rows = results.map((r) => [
    r.label, r.cache.effectiveBits.toFixed(2), r.cache.bitsWithoutParams.toFixed(2), `${r.compressionVsFp16.toFixed(2)}x`,
    r.perplexity.toFixed(4), `${(100 * (r.perplexity / base.perplexity - 1)) >= 0 ? '+' : ''}${(100 * (r.perplexity / base.perplexity - 1)).toFixed(2)}%`,
    r.tokensPerSecond.toFixed(0), r.backend,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  return [line(head), `|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|')}|`, ...rows.map(line)].join('\n');
}
