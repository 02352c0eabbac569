/**
 * Does the integer-domain attention (WasmBackendOptions.integerAttention, docs/decisions.md D50-D52)
 * move perplexity on the real model? Paired per-token comparison: the same windows decoded step by
 * step through two WasmBackends that differ only in `integerAttention`, every layer's cache packed
 * with the same codec (window 0 unless told: every sealed tile goes through the kernels). A codec
 * is a name or KEY:VALUE; calibrated codecs (SKVQ) calibrate per layer on a capture of the text's
 * calibration split (--calib-tokens, default 4096), as `kvpack eval` does.
 *
 *   npx esbuild bench/quality-integer.ts --bundle --platform=node --format=esm \
 *     --external:onnxruntime-node --external:webgpu --outfile=build/bench/quality-integer.js
 *   nice -n 10 node build/bench/quality-integer.js [--ctx 1024] [--windows 2] [--codecs kivi2,kivi4] [--out f.json]
 *
 * Prints per codec: mean NLL (nats/token) float and integer, the paired difference's mean and its
 * standard error over tokens (the noise a difference must exceed to mean anything), and the
 * codec's own cost (its NLL minus fp32's) for scale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '../ts/codecs/index.js';
import { WasmBackend, loadKvpackWasm } from '../ts/backends/wasm.js';
import type { AttentionBackend } from '../ts/backends/types.js';
import { ModelRunner } from '../ts/model/forward.js';
import { loadModel } from '../ts/model/load-model.js';
import { logProb } from '../ts/model/math.js';
import { splitText, tokenizeLines } from '../ts/model/text-split.js';
import { codecInfo } from '../ts/codecs/registry.js';
import { CaptureCalibrator } from '../ts/model/calibrate-from-capture.js';
import { captureKvWindows } from '../ts/model/capture-windows.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: {
    ctx: { type: 'string', default: '1024' },
    windows: { type: 'string', default: '2' },
    codecs: { type: 'string', default: 'kivi2,kivi4' },
    window: { type: 'string', default: '0' },
    shared: { type: 'string', default: join(root, '..', 'shared') },
    out: { type: 'string' },
    'calib-tokens': { type: 'string', default: '4096' },
  },
});
const ctx = Number(values.ctx), nWin = Number(values.windows), fpWindow = Number(values.window);
const { model, tokenizer } = await loadModel(join(values.shared!, 'models', 'gutenberg-bytes-9M'));
const split = splitText(readFileSync(join(values.shared!, 'data', 'gutenberg', 'frankenstein.txt'), 'utf8'));
const tokens = tokenizeLines(tokenizer, split.evaluation).slice(0, ctx * nWin);
if (tokens.length < ctx * nWin) throw new Error(`only ${tokens.length} evaluation tokens`);
const wasmFloat = new WasmBackend(await loadKvpackWasm(), { integerAttention: false });
const wasmInt = new WasmBackend(await loadKvpackWasm(), { integerAttention: true });
const c = model.config;
process.stderr.write(`model dim ${c.dim}, ${c.nHeads} heads / ${c.nKvHeads} KV heads x ${c.headDim}, ${c.nLayers} layers; ` +
  `ctx ${ctx} x ${nWin} windows, window ${fpWindow}, kernels ${wasmFloat.wasm.build}\n`);

// calibrated codecs: one capture of the calibration split, per-layer calibration objects
const needsCal = values.codecs!.split(/[,:]/).some((n) => codecInfo(n).needsCalibration);
const calibrator = needsCal
  ? new CaptureCalibrator(await captureKvWindows(model, tokenizeLines(tokenizer, split.calibration).slice(0, Number(values['calib-tokens']))), c)
  : undefined;

/** Per-token NLL (nats) of every prediction, windows decoded together as sequences. */
async function perTokenNll(codec: string, backend: AttentionBackend): Promise<Float64Array> {
  const [key, value = key] = codec.split(':') as [string, string?];
  const cache = (layer: number) => ({
    key, value: value!, window: fpWindow, sinks: 0,
    calibration: { key: calibrator?.forLayer(key, 'key', layer), value: calibrator?.forLayer(value!, 'value', layer) },
  });
  const runner = new ModelRunner(model, { cache, backend });
  const seqs = Array.from({ length: nWin }, (_, i) => i);
  const out = new Float64Array(nWin * (ctx - 1));
  const V = c.vocabSize;
  for (let p = 0; p < ctx; p++) {
    const logits = await runner.step(seqs, seqs.map((s) => tokens[s * ctx + p]!));
    if (p + 1 < ctx) seqs.forEach((s) => { out[s * (ctx - 1) + p] = -logProb(logits.subarray(s * V, (s + 1) * V), tokens[s * ctx + p + 1]!); });
  }
  return out;
}

const mean = (x: Float64Array): number => x.reduce((a, b) => a + b, 0) / x.length;
const t0 = performance.now();
const fp32 = await perTokenNll('fp32', wasmFloat);
const rows: Record<string, number | string>[] = [];
for (const codec of values.codecs!.split(',')) {
  const f = await perTokenNll(codec, wasmFloat);
  const i = await perTokenNll(codec, wasmInt);
  const diff = i.map((v, k) => v - f[k]!);
  const dm = mean(diff);
  const se = Math.sqrt(diff.reduce((a, v) => a + (v - dm) ** 2, 0) / (diff.length - 1) / diff.length);
  const codecCost = mean(f.map((v, k) => v - fp32[k]!));
  const maxTok = diff.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  const row = {
    codec, tokens: diff.length, nllFp32: mean(fp32), nllFloat: mean(f), nllInteger: mean(i),
    pplFloat: Math.exp(mean(f)), pplInteger: Math.exp(mean(i)), diffMean: dm, diffStdErr: se, diffMaxAbsPerToken: maxTok,
    codecCostVsFp32: codecCost,
  };
  rows.push(row);
  process.stdout.write(`${codec}: NLL fp32 ${row.nllFp32.toFixed(5)}, float ${row.nllFloat.toFixed(5)} (ppl ${row.pplFloat.toFixed(4)}), ` +
    `integer ${row.nllInteger.toFixed(5)} (ppl ${row.pplInteger.toFixed(4)}); integer - float ${dm.toExponential(2)} +/- ${se.toExponential(2)} ` +
    `(std. error, ${diff.length} tokens; max per token ${maxTok.toExponential(2)}); codec - fp32 ${codecCost.toExponential(2)}\n`);
}
process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
if (values.out) {
  writeFileSync(values.out, JSON.stringify({
    command: `node build/bench/quality-integer.js ${process.argv.slice(2).join(' ')}`, date: new Date().toISOString(),
    model: 'gutenberg-bytes-9M', text: 'frankenstein.txt (evaluation split)', ctx, windows: nWin, window: fpWindow, rows,
  }, null, 2) + '\n');
}
