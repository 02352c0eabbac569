import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadKvpackWasm, wasmSimdSupported } from '../backends/wasm-loader.js';
import '../codecs/index.js';
import { kmeansWasm } from '../codecs/cq/wasm.js';
import { codecInfo } from '../codecs/registry.js';
import { KvpackError } from '../errors.js';
import { CaptureCalibrator } from '../model/calibrate-from-capture.js';
import { captureKvWindows } from '../model/capture-windows.js';
import { parsePairing } from '../model/codec-pairing.js';
import { loadKvCapture } from '../model/kv-capture-file.js';
import type { KvCapture } from '../model/kv-capture.js';
import { loadModel } from '../model/load-model.js';
import { splitText, tokenizeLines } from '../model/text-split.js';
import { checkTuneCandidates, defaultTuneCandidates, loadTuneConfig, tune, TUNE_CANDIDATES, TUNE_CONFIG_VERSION, type TuneBudget, type TuneConfig } from '../model/tune.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';
import { checkReadable } from './file-checks.js';

const FLAGS = {
  model: { type: 'string', help: 'model folder or checkpoint file' },
  text: { type: 'string', help: 'one-document-per-line text measured (its first windows; its last 20% of lines calibrate unless --calib-text)' },
  'calib-text': { type: 'string', help: 'calibrate on this text instead (.gz read as gzip); --text is then measured whole' },
  budget: { type: 'string', help: 'quality budget: largest perplexity increase over fp32, e.g. 1%' },
  bits: { type: 'float', min: 0, help: 'memory budget: most effective bits per element (calibration parameters over --amortize sequences)' },
  ctx: { type: 'int', min: 2, help: 'tokens per measured window (default: min(seq_len, 1024))' },
  windows: { type: 'int', default: 2, min: 1, help: 'windows measured per candidate' },
  candidates: { type: 'list', help: `pairings KEY[:VALUE][@wN][@sN][@gN][@rk][@rv] to measure (default: ${TUNE_CANDIDATES.length} tiled settings, ` +
    `${TUNE_CANDIDATES.filter((c) => c.includes('@r')).length} of them rotated (@rk / @rv, power-of-two head_dim only); docs/QUALITY.md)` },
  amortize: { type: 'int', default: 16, min: 1, help: 'sequences of ctx tokens that share the calibration parameters (bits column)' },
  'calib-tokens': { type: 'int', default: 4096, min: 2, help: 'calibration tokens captured' },
  calib: { type: 'string', help: '.kvcap from `kvpack capture` to calibrate on instead of capturing (--calib-text / --calib-tokens unused)' },
  out: { type: 'string', help: 'write the chosen config (JSON) here: kvpack eval/generate --config read it' },
} as const;

export const usage = `kvpack tune --model DIR --text FILE (--budget 1% | --bits 2) [--out tune.json]

Measures candidate cache configurations (codec pairing, fp window, sinks, group, Hadamard
rotation of keys / values) on the first --windows windows of --ctx tokens, then picks: with
--budget X%, the fewest bits whose perplexity stays within X% of fp32; with --bits B, the lowest
perplexity at most B bits. Rotated calibrated codecs calibrate on rotated rows, as in kvpack
eval. Prints every candidate and why one was chosen; --out writes a config (version
${TUNE_CONFIG_VERSION}: pairing, cache options with the rotation and its seed, each layer's
calibration) that kvpack eval/generate --config and PackedKvCache (tuneCacheSpec) accept. Exit
code 1 when no candidate meets the budget (the closest is still written). Details:
docs/QUALITY.md.
${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  for (const k of ['model', 'text'] as const) if (!f[k]) throw new KvpackError('BAD_PARAM', 'is required', `--${k}`);
  if ((f.budget === undefined) === (f.bits === undefined)) throw new KvpackError('BAD_PARAM', 'give exactly one of --budget X% and --bits B', '--budget');
  let budget: TuneBudget;
  if (f.budget !== undefined) {
    const m = /^(\d+(?:\.\d+)?)%?$/.exec(f.budget.trim());
    if (!m) throw new KvpackError('BAD_PARAM', `'${f.budget}' is not a percentage like 1%`, '--budget');
    budget = { kind: 'quality', percent: Number(m[1]) };
  } else budget = { kind: 'bits', bits: f.bits! };
  (f.candidates ?? []).forEach(parsePairing); // unknown codecs fail before the model loads
  if (f.calib) await checkReadable(f.calib, '--calib');

  const { model, tokenizer } = await loadModel(f.model!);
  const candidates = f.candidates ?? defaultTuneCandidates(model.config);
  if (!f.candidates && candidates.length < TUNE_CANDIDATES.length) {
    io.err(`kvpack tune: head_dim ${model.config.headDim} is not a power of two: the rotated candidates are left out\n`);
  }
  const pairings = candidates.map(parsePairing);
  checkTuneCandidates(pairings, model.config); // before minutes of capture
  const ctx = f.ctx ?? Math.min(model.config.seqLen, 1024);
  if (ctx > model.config.seqLen) throw new KvpackError('BAD_PARAM', `must be at most the model's seq_len=${model.config.seqLen}`, '--ctx');
  const text = await readFile(f.text!, 'utf8');
  const split = f['calib-text']
    ? { evaluation: linesOf(text), calibration: linesOf(await readText(f['calib-text'])) }
    : splitText(text);
  const tokens = tokenizeLines(tokenizer, split.evaluation);
  if (tokens.length < ctx) throw new KvpackError('BAD_PARAM', `the text has ${tokens.length} tokens: no full window of ${ctx}`, '--ctx');
  let calibrator: CaptureCalibrator | undefined;
  if (pairings.some((p) => codecInfo(p.key).calibrate || codecInfo(p.value).calibrate)) {
    let capture: KvCapture;
    if (f.calib) {
      capture = await loadKvCapture(f.calib);
      io.err(`kvpack tune: calibrating on ${capture.nTokens} tokens of ${f.calib}\n`);
    } else {
      const cal: number[] = [];
      for (let i = 0; i < split.calibration.length && cal.length < f['calib-tokens']; i += 64) cal.push(...tokenizeLines(tokenizer, split.calibration.slice(i, i + 64)));
      if (cal.length < 2) throw new KvpackError('BAD_PARAM', 'no calibration text (pass --calib-text)', '--calib-text');
      io.err(`kvpack tune: capturing ${Math.min(cal.length, f['calib-tokens'])} calibration tokens\n`);
      capture = await captureKvWindows(model, cal.slice(0, f['calib-tokens']));
    }
    // CQ's k-means in WASM where it runs (same centroids as the TS default, many times faster)
    const kmeans = wasmSimdSupported() ? { kmeans: kmeansWasm(await loadKvpackWasm()) } : {};
    calibrator = new CaptureCalibrator(capture, model.config, kmeans);
  }
  const windows = Math.min(f.windows, Math.floor(tokens.length / ctx));
  io.err(`kvpack tune: ${candidates.length} candidates x ${windows} window(s) of ${ctx} tokens\n`);
  const config = await tune(model, tokens, {
    budget, ctx, windows, candidates, amortize: f.amortize, ...(calibrator ? { calibrator } : {}),
    onCandidate: (c) => io.err(`kvpack tune: ${c.pairing}: ${c.bits.toFixed(2)} bits, ${c.deltaPercent >= 0 ? '+' : ''}${c.deltaPercent.toFixed(2)}%\n`),
  });
  const rows = [...config.measured.candidates].sort((a, b) => a.bits - b.bits);
  io.out(`| candidate | bits (params over ${config.measured.amortize} seqs) | perplexity | delta vs fp32 | meets budget |\n|---|---:|---:|---:|:---:|\n`);
  for (const c of rows) {
    io.out(`| ${c.pairing}${c.pairing === config.pairing ? ' (chosen)' : ''} | ${c.bits.toFixed(2)} | ${c.perplexity.toFixed(4)} | ` +
      `${c.deltaPercent >= 0 ? '+' : ''}${c.deltaPercent.toFixed(2)}% | ${c.meetsBudget ? 'yes' : 'no'} |\n`);
  }
  io.out(`fp32 perplexity ${config.measured.fp32Perplexity.toFixed(4)} on ${config.measured.tokens} tokens (ctx ${ctx}).\n`);
  io.out(`chosen: ${config.pairing}: ${config.reason}\n`);
  if (f.out) {
    await mkdir(dirname(f.out), { recursive: true });
    await writeFile(f.out, JSON.stringify(config) + '\n');
    io.err(`kvpack tune: wrote ${f.out} (kvpack eval --config / kvpack generate --config)\n`);
  }
  return config.meetsBudget ? 0 : 1;
}

/** `--config FILE` of kvpack eval / generate: a readable file holding a valid tune config, else a typed error. */
export async function readTuneConfig(path: string, flag = '--config'): Promise<TuneConfig> {
  await checkReadable(path, flag);
  return loadTuneConfig(await readFile(path, 'utf8'));
}

function linesOf(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim().length > 0);
}

async function readText(path: string): Promise<string> {
  const b = await readFile(path);
  return (path.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
}
