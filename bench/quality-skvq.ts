/**
 * SKVQ quality: attention-output relative error vs fp32 attention, on held-out real activations of
 * stories260K (and on a LLaMA-shaped synthetic workload with outlier key channels), for SKVQ,
 * its ablations (reorder / clip / window on-off), plain group quantization at equal bits and KIVI.
 *
 * Run (no tsx in Node 20; esbuild bundles the TS):
 *   npx esbuild bench/quality-skvq.ts --bundle --platform=node --format=esm --outfile=/tmp/quality-skvq.mjs \
 *     && node /tmp/quality-skvq.mjs [--model ../shared/models/stories260K] [--text FILE] [--json bench/results/quality-skvq.json]
 *
 * Method: calibration on the calibration split of the text (docs/QUALITY.md: last 20% of lines),
 * evaluation on the first windows of the evaluation split. For every layer and every probe
 * position t (every 64th token), the cache holds tokens 0..t of the window, the query is the
 * model's real query at t (all heads), and the error is pooled: sqrt(sum ||o - o_fp32||^2 / sum ||o_fp32||^2).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { attendDense, attendReference } from '../ts/reference/attention.js';
import { calibrateSkvqStream } from '../ts/codecs/skvq/calibrate.js';
import type { SkvqBits, SkvqCalibration } from '../ts/codecs/skvq/index.js';
import { tileBitsPerElement } from '../ts/codecs/types.js';
import { loadModel } from '../ts/model/load-model.js';
import { captureKv } from '../ts/model/capture.js';
import { splitText, tokenizeLines } from '../ts/model/text-split.js';
import { heavyTailedKv, outlierKeys, gaussianKv } from '../tests/helpers/data.js';

interface Layer { queries: Float32Array; keys: Float32Array; values: Float32Array }
interface Workload {
  name: string; nHeads: number; nKvHeads: number; headDim: number;
  calib: { keys: Float32Array; values: Float32Array }[];
  /** evaluation windows (each its own sequence starting at position 0), per layer */
  evalWindows: Layer[][];
}

interface Config {
  label: string;
  key: string; value: string;
  /** SKVQ settings; undefined for non-SKVQ codecs */
  skvq?: { kBits: SkvqBits; vBits: SkvqBits; reorder: boolean; clip: boolean; groupSize: number; clustersPerDim?: number };
  window: number; sinks: number;
}

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};

function configs(window: number): Config[] {
  const s = (label: string, kBits: SkvqBits, vBits: SkvqBits, reorder: boolean, clip: boolean, w: boolean, groupSize = 32,
    clustersPerDim?: number): Config => ({
    label, key: `skvq-k${kBits}`, value: `skvq-v${vBits}`, skvq: { kBits, vBits, reorder, clip, groupSize, clustersPerDim },
    window: w ? window : 0, sinks: w ? 5 : 0,
  });
  return [
    { label: 'KIVI-2 (kivi2/kivi2)', key: 'kivi2', value: 'kivi2', window: 0, sinks: 0 },
    { label: 'KIVI-4 (kivi4/kivi4)', key: 'kivi4', value: 'kivi4', window: 0, sinks: 0 },
    { label: 'KIVI-2 + residual window', key: 'kivi2', value: 'kivi2', window, sinks: 0 },
    s('plain group K2V2 (no reorder, no clip)', 2, 2, false, false, false),
    s('K2V2 reorder only', 2, 2, true, false, false),
    s('K2V2 clip only', 2, 2, false, true, false),
    s('K2V2 reorder + clip', 2, 2, true, true, false),
    s('K2V2 window only', 2, 2, false, false, true),
    s('SKVQ K2V2 (reorder + clip + window)', 2, 2, true, true, true),
    { ...s('keys only: plain K2 (values fp32)', 2, 2, false, false, false), value: 'fp32' },
    { ...s('keys only: SKVQ K2 reorder + clip (values fp32)', 2, 2, true, true, false), value: 'fp32' },
    { ...s('values only: plain V2 (keys fp32)', 2, 2, false, false, false), key: 'fp32' },
    { ...s('values only: SKVQ V2 reorder + clip (keys fp32)', 2, 2, true, true, false), key: 'fp32' },
    s('plain group K2V1.5', 2, 1.5, false, false, false),
    s('K2V1.5 reorder + clip', 2, 1.5, true, true, false),
    s('SKVQ K2V1.5 (reorder + clip + window)', 2, 1.5, true, true, true),
    s('plain group K4V2', 4, 2, false, false, false),
    s('K4V2 reorder + clip', 4, 2, true, true, false),
    s('K2V2 reorder + clip, C = d/2 clusters', 2, 2, true, true, false, 32, 0.5),
    s('K2V2 clip, C = d (one channel per group)', 2, 2, true, true, false, 32, 1),
    s('plain group K2V2 g128', 2, 2, false, false, false, 128),
    s('K2V2 g128 reorder + clip', 2, 2, true, true, false, 128),
  ];
}

const calCache = new Map<string, SkvqCalibration>();
function calibrationFor(w: Workload, layer: number, kind: 'key' | 'value', bits: SkvqBits, reorder: boolean, groupSize: number,
  clusters?: number): SkvqCalibration {
  const id = `${w.name}|${layer}|${kind}|${bits}|${reorder}|${groupSize}|${clusters}`;
  let cal = calCache.get(id);
  if (!cal) {
    const data = kind === 'key' ? w.calib[layer]!.keys : w.calib[layer]!.values;
    cal = calibrateSkvqStream({ kind, headDim: w.headDim, nKvHeads: w.nKvHeads, data }, { bits, reorder, groupSize, maxClipTokens: 2048, ...(clusters ? { clusters } : {}) });
    calCache.set(id, cal);
  }
  return cal;
}

interface Row { label: string; keyBits: number; valueBits: number; effectiveBits: number; relError: number; clip: string }

function evaluate(w: Workload, c: Config, probeEvery: number): Row {
  let num = 0, den = 0, eff = 0, effN = 0, kBits = 0, vBits = 0;
  const clips: string[] = [];
  const { nHeads, nKvHeads: nKv, headDim: d } = w;
  const tf = nKv * d;
  for (let layer = 0; layer < w.calib.length; layer++) {
    let calibration: { key?: unknown; value?: unknown } | undefined;
    let keyOptions: Record<string, unknown> | undefined, valueOptions: Record<string, unknown> | undefined;
    if (c.skvq) {
      const { kBits: kb, vBits: vb, reorder, clip, groupSize, clustersPerDim } = c.skvq;
      const clusters = clustersPerDim ? Math.round(clustersPerDim * w.headDim) : undefined;
      const kq = c.key.startsWith('skvq'), vq = c.value.startsWith('skvq');
      const key = kq ? calibrationFor(w, layer, 'key', kb, reorder, groupSize, clusters) : undefined;
      const value = vq ? calibrationFor(w, layer, 'value', vb, reorder, groupSize, clusters) : undefined;
      calibration = { key, value };
      if (kq) keyOptions = { reorder, clip };
      if (vq) valueOptions = { reorder, clip };
      if (clip) clips.push(`${key ? key.clip : '-'}/${value ? value.clip : '-'}`);
    }
    for (const win of w.evalWindows) {
      const L = win[layer]!;
      const n = L.keys.length / tf;
      const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: c.key, value: c.value, calibration, keyOptions, valueOptions, window: c.window, sinks: c.sinks });
      kBits = tileBitsPerElement(cache.key); vBits = tileBitsPerElement(cache.value);
      let appended = 0;
      for (let t = probeEvery - 1; t < n; t += probeEvery) {
        cache.append(0, L.keys.subarray(appended * tf, (t + 1) * tf), L.values.subarray(appended * tf, (t + 1) * tf));
        appended = t + 1;
        const q = L.queries.subarray(t * nHeads * d, (t + 1) * nHeads * d);
        const o = attendReference(cache, 0, q, nHeads);
        const ref = attendDense(L.keys.subarray(0, (t + 1) * tf), L.values.subarray(0, (t + 1) * tf), nKv, d, q, nHeads);
        for (let i = 0; i < o.length; i++) { num += (o[i]! - ref[i]!) ** 2; den += ref[i]! ** 2; }
      }
      eff += cache.stats().effectiveBits; effN++;
    }
  }
  return { label: c.label, keyBits: kBits, valueBits: vBits, effectiveBits: eff / effN, relError: Math.sqrt(num / den), clip: clips.join(' ') };
}

async function realWorkload(): Promise<Workload> {
  const modelPath = flag('model', '../shared/models/stories260K');
  const textPath = flag('text', '../shared/data/tinystories-valid-sample/TinyStories-valid.txt');
  const { model, tokenizer } = await loadModel(modelPath);
  const split = splitText(await readFile(textPath, 'utf8'));
  const calTokens = tokenizeLines(tokenizer, split.calibration).slice(0, 2048);
  const evalTokens = tokenizeLines(tokenizer, split.evaluation).slice(0, 2 * model.config.seqLen);
  const cal = await captureKv(model, calTokens);
  const ev = await captureKv(model, evalTokens);
  const win = model.config.seqLen;
  const c = model.config;
  const evalWindows: Layer[][] = [];
  for (let s = 0; s < ev.nTokens; s += win) {
    const e = Math.min(ev.nTokens, s + win);
    evalWindows.push(ev.layers.map((l) => ({
      queries: l.queries.subarray(s * c.nHeads * c.headDim, e * c.nHeads * c.headDim),
      keys: l.keys.subarray(s * c.nKvHeads * c.headDim, e * c.nKvHeads * c.headDim),
      values: l.values.subarray(s * c.nKvHeads * c.headDim, e * c.nKvHeads * c.headDim),
    })));
  }
  console.error(`real: ${modelPath}, calibration ${cal.nTokens} tokens, evaluation ${ev.nTokens} tokens in ${evalWindows.length} windows`);
  return { name: 'stories260K', nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, calib: cal.layers, evalWindows };
}

function syntheticWorkload(): Workload {
  // LLaMA-like head: d = 128, GQA 4; keys with outlier channels, heavy-tailed values.
  const nKv = 4, d = 128, nHeads = 16, n = 2048, half = 1024;
  const K = outlierKeys(n, nKv, d, 1234), V = heavyTailedKv(n, nKv, d, 99);
  const Q = gaussianKv(n, nHeads, d, 7, 0.25);
  const tf = nKv * d;
  return {
    name: 'synthetic', nHeads, nKvHeads: nKv, headDim: d,
    calib: [{ keys: K.subarray(0, half * tf), values: V.subarray(0, half * tf) }],
    evalWindows: [[{ queries: Q.subarray(half * nHeads * d), keys: K.subarray(half * tf), values: V.subarray(half * tf) }]],
  };
}

function table(rows: Row[]): string {
  const lines = ['| config | K bits (tiles) | V bits (tiles) | effective bits (cache) | clip K/V per layer | attention rel. error |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.label} | ${r.keyBits.toFixed(3)} | ${r.valueBits.toFixed(3)} | ${r.effectiveBits.toFixed(3)} | ${r.clip || '-'} | ${r.relError.toFixed(4)} |`);
  return lines.join('\n');
}

const results: Record<string, Row[]> = {};
for (const make of [realWorkload, async () => syntheticWorkload()]) {
  const w = await make();
  const t0 = performance.now();
  const rows = configs(128).map((c) => { const r = evaluate(w, c, 64); console.error(`${w.name}: ${c.label} ${r.relError.toFixed(4)}`); return r; });
  results[w.name] = rows;
  console.log(`\n### ${w.name} (nHeads ${w.nHeads}, nKvHeads ${w.nKvHeads}, head_dim ${w.headDim}); ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  console.log(table(rows));
}
const out = flag('json', 'bench/results/quality-skvq.json');
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString(), results }, null, 1));
console.error(`wrote ${out}`);
