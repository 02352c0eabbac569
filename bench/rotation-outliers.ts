/**
 * What the rotation (`@rk` / `@rv`, RotatedCodec: seeded randomized Hadamard per KV head, seed 1)
 * does to outlier channels of a real model's cache: per layer, keys (after RoPE, as cached) and
 * values of gutenberg-bytes-9M over the first TOKENS tokens of a text (one window from position
 * 0, as `kvpack eval` cuts them), before and after rotation (docs/QUALITY.md "Rotation",
 * docs/decisions.md#D33). Statistics, per KV head, then over the heads:
 *   peak/rms   max over channels c and tokens t of |x_tc| / rms(x) (rms over all of the head's
 *              elements): how far the largest element sits above the typical one (max over heads)
 *   top4       share of the head's energy sum_t x_tc^2 in its 4 largest channels (uniform: 4/d =
 *              6.25% at d 64; mean over heads)
 *   kurtosis   per token across the d channels, E[(x - mean)^4] / var^2, averaged over tokens:
 *              what a per-token quantization group sees (Gaussian: 3; mean over heads)
 *   crest      per token, max_c |x_tc| / rms_c(x_t), averaged over tokens: the range a per-token
 *              group must span in units of its typical element (Gaussian at d 64: ~2.4; mean over heads)
 *
 *   npx esbuild bench/rotation-outliers.ts --bundle --platform=node --format=esm --external:webgpu \
 *     --external:onnxruntime-node --outfile=build/bench/rotation-outliers.mjs
 *   nice -n 10 node build/bench/rotation-outliers.mjs [--model M] [--text T] [--tokens 4096] [--out bench/results/rotation-outliers.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import '../ts/codecs/index.js';
import { rotateCaptureRows } from '../ts/codecs/rotation.js';
import type { StreamKind } from '../ts/codecs/types.js';
import { captureKvWindows } from '../ts/model/capture-windows.js';
import { loadModel } from '../ts/model/load-model.js';
import { describeMachine } from '../ts/model/machine.js';
import { tokenizeLines } from '../ts/model/text-split.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const modelPath = arg('model', '../shared/models/gutenberg-bytes-9M');
const textPath = arg('text', '../shared/data/gutenberg/frankenstein.txt');
const nTokens = Number(arg('tokens', '4096'));
const out = arg('out', 'bench/results/rotation-outliers.json');
const SEED = 1; // PAIRING_ROTATION_SEED: the rotation `@rk` / `@rv` apply

interface Stats { peakOverRms: number; top4EnergyShare: number; kurtosis: number; tokenCrest: number }

/** The three statistics of rows [tokens][nKvHeads][d], per head then over heads (see the header). */
function stats(x: Float32Array, nKvHeads: number, d: number): Stats {
  const n = x.length / (nKvHeads * d);
  let peak = 0, top4 = 0, kurt = 0, crest = 0;
  for (let h = 0; h < nKvHeads; h++) {
    const energy = new Float64Array(d);
    let sumSq = 0, maxAbs = 0, kSum = 0, cSum = 0;
    for (let t = 0; t < n; t++) {
      const o = (t * nKvHeads + h) * d;
      let mean = 0;
      for (let c = 0; c < d; c++) mean += x[o + c]!;
      mean /= d;
      let m2 = 0, m4 = 0, tokSq = 0, tokMax = 0;
      for (let c = 0; c < d; c++) {
        const v = x[o + c]!;
        energy[c] = energy[c]! + v * v;
        sumSq += v * v;
        maxAbs = Math.max(maxAbs, Math.abs(v));
        tokSq += v * v;
        tokMax = Math.max(tokMax, Math.abs(v));
        const dv = v - mean;
        m2 += dv * dv;
        m4 += dv ** 4;
      }
      m2 /= d; m4 /= d;
      kSum += m2 > 0 ? m4 / (m2 * m2) : 0;
      cSum += tokSq > 0 ? tokMax / Math.sqrt(tokSq / d) : 0;
    }
    const rms = Math.sqrt(sumSq / (n * d));
    peak = Math.max(peak, maxAbs / rms);
    const sorted = Array.from(energy).sort((a, b) => b - a);
    top4 += (sorted[0]! + sorted[1]! + sorted[2]! + sorted[3]!) / sumSq / nKvHeads;
    kurt += kSum / n / nKvHeads;
    crest += cSum / n / nKvHeads;
  }
  return { peakOverRms: peak, top4EnergyShare: top4, kurtosis: kurt, tokenCrest: crest };
}

const { model, tokenizer } = await loadModel(modelPath);
const c = model.config;
const raw = readFileSync(textPath);
const text = (textPath.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
const tokens = tokenizeLines(tokenizer, text.split(/\r?\n/).filter((l) => l.trim().length > 0)).slice(0, nTokens);
const cap = await captureKvWindows(model, tokens, { window: Math.min(c.seqLen, nTokens) });
const rows: { layer: number; stream: StreamKind; before: Stats; after: Stats }[] = [];
for (let l = 0; l < c.nLayers; l++) {
  for (const stream of ['key', 'value'] as const) {
    const x = stream === 'key' ? cap.layers[l]!.keys : cap.layers[l]!.values;
    rows.push({ layer: l, stream, before: stats(x, c.nKvHeads, c.headDim), after: stats(rotateCaptureRows(x, stream, c.nKvHeads, c.headDim, SEED), c.nKvHeads, c.headDim) });
  }
}
const f = (v: number, p = 1): string => v.toFixed(p);
console.log(`${modelPath}: ${cap.nTokens} tokens of ${textPath}; head_dim ${c.headDim}, ${c.nKvHeads} KV heads; rotation seed ${SEED}`);
console.log('| layer | stream | peak/rms before | after | top-4 channels\' energy before | after | kurtosis before | after | crest before | after |');
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.layer} | ${r.stream}s | ${f(r.before.peakOverRms)} | ${f(r.after.peakOverRms)} | ${f(100 * r.before.top4EnergyShare)}% | ` +
    `${f(100 * r.after.top4EnergyShare)}% | ${f(r.before.kurtosis)} | ${f(r.after.kurtosis)} | ${f(r.before.tokenCrest, 2)} | ${f(r.after.tokenCrest, 2)} |`);
}
writeFileSync(out, JSON.stringify({
  command: `node build/bench/rotation-outliers.mjs ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString(),
  machine: describeMachine(), model: modelPath, text: textPath, tokens: cap.nTokens, headDim: c.headDim, nKvHeads: c.nKvHeads,
  rotationSeed: SEED, uniformTop4Share: 4 / c.headDim, rows,
}, null, 2) + '\n');
console.log(`wrote ${out}`);
