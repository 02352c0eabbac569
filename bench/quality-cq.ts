/**
 * CQ quality: attention-output relative error vs fp32 attention on held-out real activations of
 * stories260K (head_dim 8, 8 query heads over 4 KV heads, 5 layers), for every CQ configuration,
 * KIVI at comparable bits, and the paper's ablations: number of coupled channels at a fixed
 * 1 and 2 bits per channel (CQ-1c1b = per-channel scalar 1-bit k-means quantization), keys-only /
 * values-only coupling, and the 32-token full-precision window.
 *
 * Run (no tsx in Node 20; esbuild bundles the TS; needs build/kvpack.wasm for the WASM k-means):
 *   npm run build:wasm && npx esbuild bench/quality-cq.ts --bundle --platform=node --format=esm \
 *     --outfile=/tmp/quality-cq.mjs && node /tmp/quality-cq.mjs [--model DIR] [--text FILE] \
 *     [--json bench/results/quality-cq.json] [--calib-tokens 4096] [--probe 16]
 *
 * Method (the same as bench/quality-skvq.ts, so numbers compare): calibration on the calibration
 * split of the text (docs/QUALITY.md: last 20% of lines), evaluation on the first two 512-token
 * windows of the evaluation split. For every layer and every probe position t, the cache holds
 * tokens 0..t of the window, the query is the model's real query at t (all heads), and the error
 * is pooled: sqrt(sum ||o - o_fp32||^2 / sum ||o_fp32||^2).
 * Effective bits are reported three ways: the tiles alone, the eval cache's CacheStats (codebooks
 * counted against this one 512-token sequence) and the codebook amortized over 4K / 32K cached
 * tokens (a cache shared by several sequences, or a longer context).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { attendDense, attendReference } from '../ts/reference/attention.js';
import { calibrateCqStream } from '../ts/codecs/cq/calibrate.js';
import { CqCodec } from '../ts/codecs/cq/codec.js';
import type { CqCalibration } from '../ts/codecs/cq/calibration-format.js';
import { kmeansWasm } from '../ts/codecs/cq/wasm.js';
import { loadKvpackWasm } from '../ts/backends/wasm.js';
import { tileBitsPerElement } from '../ts/codecs/types.js';
import type { StreamCodec } from '../ts/codecs/types.js';
import { loadModel } from '../ts/model/load-model.js';
import { captureKv } from '../ts/model/capture.js';
import { splitText, tokenizeLines } from '../ts/model/text-split.js';

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};

interface Layer { queries: Float32Array; keys: Float32Array; values: Float32Array }
type Stream = string | { c: number; b: number };
interface Config { label: string; key: Stream; value: Stream; window: number }

const cq = (c: number, b: number): Stream => ({ c, b });
const name = (s: Stream): string => (typeof s === 'string' ? s : `cq-${s.c}c${s.b}b`);

const CONFIGS: Config[] = [
  { label: 'KIVI-8', key: 'kivi8', value: 'kivi8', window: 0 },
  { label: 'KIVI-4', key: 'kivi4', value: 'kivi4', window: 0 },
  { label: 'KIVI-2', key: 'kivi2', value: 'kivi2', window: 0 },
  { label: 'KIVI-2 + window 32', key: 'kivi2', value: 'kivi2', window: 32 },
  { label: 'CQ-2c8b (4 b/ch)', key: cq(2, 8), value: cq(2, 8), window: 0 },
  { label: 'CQ-4c9b (2.25 b/ch)', key: cq(4, 9), value: cq(4, 9), window: 0 },
  { label: 'CQ-4c8b (2 b/ch)', key: cq(4, 8), value: cq(4, 8), window: 0 },
  { label: 'CQ-8c10b (1.25 b/ch)', key: cq(8, 10), value: cq(8, 10), window: 0 },
  { label: 'CQ-8c8b (1 b/ch)', key: cq(8, 8), value: cq(8, 8), window: 0 },
  { label: 'CQ-4c8b + window 32', key: cq(4, 8), value: cq(4, 8), window: 32 },
  { label: 'CQ-8c8b + window 32', key: cq(8, 8), value: cq(8, 8), window: 32 },
  // coupling ablation at 1 bit per channel (paper Fig. 1): 1c1b is per-channel scalar 1-bit
  { label: 'ablation 1 b/ch: CQ-1c1b (per-channel)', key: cq(1, 1), value: cq(1, 1), window: 0 },
  { label: 'ablation 1 b/ch: CQ-2c2b', key: cq(2, 2), value: cq(2, 2), window: 0 },
  { label: 'ablation 1 b/ch: CQ-4c4b', key: cq(4, 4), value: cq(4, 4), window: 0 },
  // coupling ablation at 2 bits per channel
  { label: 'ablation 2 b/ch: CQ-1c2b (per-channel)', key: cq(1, 2), value: cq(1, 2), window: 0 },
  { label: 'ablation 2 b/ch: CQ-2c4b', key: cq(2, 4), value: cq(2, 4), window: 0 },
  // which stream is coupled (paper Table 6 at 1 bit): the other stream per-channel 1-bit
  { label: 'ablation: keys CQ-8c8b, values CQ-1c1b', key: cq(8, 8), value: cq(1, 1), window: 0 },
  { label: 'ablation: keys CQ-1c1b, values CQ-8c8b', key: cq(1, 1), value: cq(8, 8), window: 0 },
];

interface Row {
  label: string; keyBits: number; valueBits: number;
  effectiveBitsEval: number; effectiveBits4k: number; effectiveBits32k: number; relError: number;
}

async function main(): Promise<void> {
  // bundled into /tmp, the loader cannot find build/ relative to itself: pass the bytes
  const wasm = await loadKvpackWasm(await readFile(flag('wasm', 'build/kvpack.wasm')));
  const kmeans = kmeansWasm(wasm);
  const modelPath = flag('model', '../shared/models/stories260K');
  const textPath = flag('text', '../shared/data/tinystories-valid-sample/TinyStories-valid.txt');
  const calibTokens = Number(flag('calib-tokens', '4096'));
  const probeEvery = Number(flag('probe', '16'));
  const { model, tokenizer } = await loadModel(modelPath);
  const c = model.config;
  const split = splitText(await readFile(textPath, 'utf8'));
  const calTok = tokenizeLines(tokenizer, split.calibration).slice(0, calibTokens);
  const evalTok = tokenizeLines(tokenizer, split.evaluation).slice(0, 2 * c.seqLen);
  const cal = await captureKv(model, calTok);
  const ev = await captureKv(model, evalTok);
  const { nHeads, nKvHeads: nKv, headDim: d } = c;
  const tf = nKv * d;
  const windows: Layer[][] = [];
  for (let s = 0; s < ev.nTokens; s += c.seqLen) {
    const e = Math.min(ev.nTokens, s + c.seqLen);
    windows.push(ev.layers.map((l) => ({
      queries: l.queries.subarray(s * nHeads * d, e * nHeads * d),
      keys: l.keys.subarray(s * tf, e * tf), values: l.values.subarray(s * tf, e * tf),
    })));
  }
  console.error(`${modelPath}: ${c.nLayers} layers, ${nHeads}/${nKv} heads x ${d}; calibration ${cal.nTokens} tokens, ` +
    `evaluation ${ev.nTokens} tokens in ${windows.length} windows, probe every ${probeEvery}`);

  const calCache = new Map<string, CqCalibration>();
  const codecFor = (s: Stream, kind: 'key' | 'value', layer: number): string | StreamCodec => {
    if (typeof s === 'string') return s;
    const id = `${s.c}|${s.b}|${kind}|${layer}`;
    let calib = calCache.get(id);
    if (!calib) {
      const t0 = performance.now();
      const L = cal.layers[layer]!;
      calib = calibrateCqStream(kind === 'key' ? L.keys : L.values, { kind, nKvHeads: nKv, headDim: d },
        { channelsPerGroup: s.c, bits: s.b, seed: layer, maxIterations: 25, kmeans });
      calCache.set(id, calib);
      console.error(`  calibrated cq-${s.c}c${s.b}b ${kind} layer ${layer} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    return new CqCodec({ channelsPerGroup: s.c, bits: s.b }, { kind, headDim: d, nKvHeads: nKv, calibration: calib });
  };

  const rows: Row[] = [];
  for (const cfg of CONFIGS) {
    let num = 0, den = 0, effEval = 0, effN = 0, kBits = 0, vBits = 0, paramBits = 0;
    for (let layer = 0; layer < c.nLayers; layer++) {
      const key = codecFor(cfg.key, 'key', layer), value = codecFor(cfg.value, 'value', layer);
      for (const win of windows) {
        const L = win[layer]!;
        const n = L.keys.length / tf;
        const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key, value, window: cfg.window });
        kBits = tileBitsPerElement(cache.key); vBits = tileBitsPerElement(cache.value);
        paramBits = (cache.key.paramWords.length + cache.value.paramWords.length) * 32;
        let appended = 0;
        for (let t = probeEvery - 1; t < n; t += probeEvery) {
          cache.append(0, L.keys.subarray(appended * tf, (t + 1) * tf), L.values.subarray(appended * tf, (t + 1) * tf));
          appended = t + 1;
          const q = L.queries.subarray(t * nHeads * d, (t + 1) * nHeads * d);
          const o = attendReference(cache, 0, q, nHeads);
          const ref = attendDense(L.keys.subarray(0, (t + 1) * tf), L.values.subarray(0, (t + 1) * tf), nKv, d, q, nHeads);
          for (let i = 0; i < o.length; i++) { num += (o[i]! - ref[i]!) ** 2; den += ref[i]! ** 2; }
        }
        if (appended < n) cache.append(0, L.keys.subarray(appended * tf), L.values.subarray(appended * tf));
        effEval += cache.stats().effectiveBits; effN++;
      }
    }
    // amortized: tiles + codebooks over T tokens (K and V elements: 2 * T * nKv * d), no window
    const amortized = (T: number): number => (kBits + vBits) / 2 + paramBits / (2 * T * tf);
    const row: Row = {
      label: cfg.label + (typeof cfg.key === 'string' ? '' : ` [${name(cfg.key)}/${name(cfg.value)}]`),
      keyBits: kBits, valueBits: vBits, effectiveBitsEval: effEval / effN,
      effectiveBits4k: amortized(4096), effectiveBits32k: amortized(32768), relError: Math.sqrt(num / den),
    };
    rows.push(row);
    console.error(`${row.label}: ${row.relError.toFixed(4)}`);
  }
  const lines = [
    '| config | K bits (tiles) | V bits (tiles) | eff. bits, this 512-token cache | eff. bits at 4K tokens | at 32K | attention rel. error |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.label} | ${r.keyBits.toFixed(3)} | ${r.valueBits.toFixed(3)} | ${r.effectiveBitsEval.toFixed(3)} | ` +
      `${r.effectiveBits4k.toFixed(3)} | ${r.effectiveBits32k.toFixed(3)} | ${r.relError.toFixed(4)} |`),
  ];
  console.log(`\n### stories260K (nHeads ${nHeads}, nKvHeads ${nKv}, head_dim ${d}), calibration ${cal.nTokens} tokens\n`);
  console.log(lines.join('\n'));
  const out = flag('json', 'bench/results/quality-cq.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({
    machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString(),
    model: modelPath, calibrationTokens: cal.nTokens, evaluationTokens: ev.nTokens, probeEvery, rows,
  }, null, 1));
  console.error(`wrote ${out}`);
}

await main();
