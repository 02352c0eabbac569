/**
 * QAQ quality vs compression: attention-output relative error vs fp32 attention on held-out real
 * activations of stories260K (and a LLaMA-shaped synthetic workload), for QAQ over a sweep of its
 * quality targets and its ablations, against KIVI and SKVQ; then perplexity of the real model
 * with each cache (QAQ through a per-layer QaqKvCache).
 *
 * Run (no tsx in Node 20; esbuild bundles the TS):
 *   npx esbuild bench/quality-qaq.ts --bundle --platform=node --format=esm --outfile=/tmp/quality-qaq.mjs \
 *     && node /tmp/quality-qaq.mjs [--model ../shared/models/stories260K] [--text FILE] [--skip-ppl]
 *        [--json bench/results/quality-qaq.json]
 *
 * Method (as bench/quality-skvq.ts, so the numbers compare): calibration (QAQ's qMax, SKVQ's
 * reorder/clip) on the calibration split (last 20% of lines), evaluation on the first windows of
 * the evaluation split. Decode replay per layer and window: token t is appended and the model's
 * real query of t attends (QAQ records the weights, which drive its widths); at every 8th
 * position the output is compared with dense fp32 attention over tokens 0..t; the error is
 * pooled: sqrt(sum ||o - o_fp32||^2 / sum ||o_fp32||^2). Effective bits = CacheStats.effectiveBits
 * at the end of each window (everything stored, fp tail at 16 bits), averaged.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import '../ts/codecs/index.js';
import { PackedKvCache } from '../ts/cache/kv-cache.js';
import { QaqKvCache } from '../ts/codecs/qaq/cache.js';
import { attendDense, attendReference } from '../ts/reference/attention.js';
import { calibrateSkvqStream } from '../ts/codecs/skvq/calibrate.js';
import { calibrateQaq, type QaqCalibration } from '../ts/codecs/qaq/calibrate.js';
import type { SkvqBits } from '../ts/codecs/skvq/index.js';
import type { QaqOptions } from '../ts/codecs/qaq/options.js';
import { decodeRecord } from '../ts/codecs/qaq/record.js';
import type { PackedPartials, QaqPackedView } from '../ts/codecs/qaq/attend.js';
import { TILE_TOKENS } from '../ts/format/constants.js';
import { loadModel } from '../ts/model/load-model.js';
import { captureKv } from '../ts/model/capture.js';
import { splitText, tokenizeLines } from '../ts/model/text-split.js';
import { ModelRunner } from '../ts/model/forward.js';
import { logProb } from '../ts/model/math.js';
import type { Model } from '../ts/model/config.js';
import type { AttentionBackend } from '../ts/backends/types.js';
import { gaussianKv, heavyTailedKv, outlierKeys } from '../tests/helpers/data.js';

interface Layer { queries: Float32Array; keys: Float32Array; values: Float32Array }
interface Workload {
  name: string; nHeads: number; nKvHeads: number; headDim: number;
  calib: Layer[];
  evalWindows: Layer[][];
  qaqCal: QaqCalibration;
}

type Config =
  | { kind: 'packed'; label: string; key: string; value: string; skvq?: { kBits: SkvqBits; vBits: SkvqBits }; window: number; sinks: number }
  | { kind: 'qaq'; label: string; qaq: Partial<QaqOptions>; window?: number };

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const PROBE = 8;
/** The reference code's grid values (the rows below set what they vary on top of these). */
const REF = { bitsMin: 2, bitsMax: 8, attentionWindow: 5, outlierRatio: 0.01 } as const;

/**
 * The TS reference packed attention with each record decoded once (records never change once
 * sealed): same numbers as packedPartialsReference, fast enough for a decode replay.
 */
function memoPackedAttention(): (v: QaqPackedView, q: Float32Array, nHeads: number) => PackedPartials {
  const memo = new WeakMap<Uint32Array, Map<number, Float32Array>>();
  const rows = (v: QaqPackedView, addr: number): Float32Array => {
    const page = v.pages[Math.floor(addr / v.pageWords)]!;
    let m = memo.get(page);
    if (!m) { m = new Map(); memo.set(page, m); }
    let r = m.get(addr);
    if (!r) {
      r = new Float32Array(TILE_TOKENS * v.rowWidth);
      decodeRecord(page, addr % v.pageWords, v.rowWidth, v.outliersPerRow, 0, v.rowWidth, r);
      m.set(addr, r);
    }
    return r;
  };
  return (v, q, nHeads) => {
    const d = v.headDim, group = nHeads / v.nKvHeads, scale = 1 / Math.sqrt(d), R = v.rowWidth;
    const m = new Float64Array(nHeads).fill(-Infinity), l = new Float64Array(nHeads), acc = new Float64Array(nHeads * d);
    const s = new Float64Array(TILE_TOKENS);
    for (let tile = 0; tile < v.tiles; tile++) {
      for (let g = 0; g < v.nKvHeads; g++) {
        const gr = v.groups === 1 ? 0 : g, col0 = v.groups === 1 ? g * d : 0;
        const K = rows(v, v.offsets[(tile * v.groups + gr) * 2]!), V = rows(v, v.offsets[(tile * v.groups + gr) * 2 + 1]!);
        for (let j = 0; j < group; j++) {
          const h = g * group + j;
          let tm = -Infinity;
          for (let t = 0; t < TILE_TOKENS; t++) {
            let dot = 0;
            for (let c = 0; c < d; c++) dot += q[h * d + c]! * K[t * R + col0 + c]!;
            s[t] = dot * scale;
            if (s[t]! > tm) tm = s[t]!;
          }
          const M = Math.max(m[h]!, tm);
          const corr = m[h] === -Infinity ? 0 : Math.exp(m[h]! - M);
          l[h] = l[h]! * corr;
          for (let c = 0; c < d; c++) acc[h * d + c] = acc[h * d + c]! * corr;
          for (let t = 0; t < TILE_TOKENS; t++) {
            const w = Math.exp(s[t]! - M);
            l[h] = l[h]! + w;
            for (let c = 0; c < d; c++) acc[h * d + c] = acc[h * d + c]! + w * V[t * R + col0 + c]!;
          }
          m[h] = M;
        }
      }
    }
    return { m, l, acc };
  };
}

function makeQaq(w: Workload, c: Extract<Config, { kind: 'qaq' }>, layer: number): QaqKvCache {
  const qMax = c.qaq.qMax ?? w.qaqCal.layers[layer]!.qMax;
  return new QaqKvCache({
    nKvHeads: w.nKvHeads, headDim: w.headDim, window: c.window, qaq: { ...c.qaq, qMax },
    packedAttention: memoPackedAttention(),
  });
}

interface Row {
  label: string; effectiveBits: number; relError: number;
  meanKeyWidth?: number; meanValueWidth?: number; breakdown?: Record<string, number>;
  perLayer?: { layer: number; effectiveBits: number; groups: { head: number; keyBits: number; valueBits: number }[] }[];
}

function evaluate(w: Workload, c: Config): Row {
  let num = 0, den = 0, eff = 0, effN = 0, kw = 0, vw = 0, wn = 0;
  const { nHeads, nKvHeads: nKv, headDim: d } = w;
  const tf = nKv * d, qf = nHeads * d;
  const perLayer: NonNullable<Row['perLayer']> = [];
  const parts: Record<string, number> = {};
  for (let layer = 0; layer < w.calib.length; layer++) {
    let calibration: { key?: unknown; value?: unknown } | undefined;
    let keyOptions: Record<string, unknown> | undefined, valueOptions: Record<string, unknown> | undefined;
    if (c.kind === 'packed' && c.skvq) {
      const cal = w.calib[layer]!;
      calibration = {
        key: calibrateSkvqStream({ kind: 'key', headDim: d, nKvHeads: nKv, data: cal.keys }, { bits: c.skvq.kBits, maxClipTokens: 2048 }),
        value: calibrateSkvqStream({ kind: 'value', headDim: d, nKvHeads: nKv, data: cal.values }, { bits: c.skvq.vBits, maxClipTokens: 2048 }),
      };
      keyOptions = { reorder: true, clip: true };
      valueOptions = { reorder: true, clip: true };
    }
    let layerEff = 0, layerN = 0;
    const groupAcc = new Map<number, { k: number; v: number; n: number }>();
    for (const win of w.evalWindows) {
      const L = win[layer]!;
      const n = L.keys.length / tf;
      if (c.kind === 'qaq') {
        const cache = makeQaq(w, c, layer);
        for (let t = 0; t < n; t++) {
          cache.append(0, L.keys.subarray(t * tf, (t + 1) * tf), L.values.subarray(t * tf, (t + 1) * tf));
          const q = L.queries.subarray(t * qf, (t + 1) * qf);
          const o = cache.attendSync([0], q, nHeads);
          if ((t + 1) % PROBE !== 0) continue;
          const ref = attendDense(L.keys.subarray(0, (t + 1) * tf), L.values.subarray(0, (t + 1) * tf), nKv, d, q, nHeads);
          for (let i = 0; i < o.length; i++) { num += (o[i]! - ref[i]!) ** 2; den += ref[i]! ** 2; }
        }
        const s = cache.stats();
        eff += s.effectiveBits; effN++; layerEff += s.effectiveBits; layerN++;
        for (const g of s.groups) {
          kw += g.meanKeyWidth; vw += g.meanValueWidth; wn++;
          const a = groupAcc.get(g.head) ?? { k: 0, v: 0, n: 0 };
          a.k += g.keyBitsPerElement; a.v += g.valueBitsPerElement; a.n++;
          groupAcc.set(g.head, a);
        }
        for (const [k, v] of Object.entries(s.breakdown)) parts[k] = (parts[k] ?? 0) + v;
      } else {
        const cache = new PackedKvCache({ nKvHeads: nKv, headDim: d, key: c.key, value: c.value, calibration, keyOptions, valueOptions, window: c.window, sinks: c.sinks });
        let appended = 0;
        for (let t = PROBE - 1; t < n; t += PROBE) {
          cache.append(0, L.keys.subarray(appended * tf, (t + 1) * tf), L.values.subarray(appended * tf, (t + 1) * tf));
          appended = t + 1;
          const q = L.queries.subarray(t * qf, (t + 1) * qf);
          const o = attendReference(cache, 0, q, nHeads);
          const ref = attendDense(L.keys.subarray(0, (t + 1) * tf), L.values.subarray(0, (t + 1) * tf), nKv, d, q, nHeads);
          for (let i = 0; i < o.length; i++) { num += (o[i]! - ref[i]!) ** 2; den += ref[i]! ** 2; }
        }
        if (appended < n) cache.append(0, L.keys.subarray(appended * tf, n * tf), L.values.subarray(appended * tf, n * tf));
        const s = cache.stats();
        eff += s.effectiveBits; effN++; layerEff += s.effectiveBits; layerN++;
      }
    }
    if (c.kind === 'qaq') {
      perLayer.push({
        layer, effectiveBits: layerEff / layerN,
        groups: [...groupAcc.entries()].map(([head, a]) => ({ head, keyBits: a.k / a.n, valueBits: a.v / a.n })),
      });
    }
  }
  const row: Row = { label: c.label, effectiveBits: eff / effN, relError: Math.sqrt(num / den) };
  if (c.kind === 'qaq') {
    row.meanKeyWidth = kw / wn; row.meanValueWidth = vw / wn; row.perLayer = perLayer;
    row.breakdown = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v / effN]));
  }
  return row;
}

function configs(w: Workload): Config[] {
  const level = w.headDim < 32 ? 'layer' : 'head';
  const out: Config[] = [
    { kind: 'packed', label: 'KIVI-2', key: 'kivi2', value: 'kivi2', window: 0, sinks: 0 },
    { kind: 'packed', label: 'KIVI-4', key: 'kivi4', value: 'kivi4', window: 0, sinks: 0 },
    { kind: 'packed', label: 'KIVI-8', key: 'kivi8', value: 'kivi8', window: 0, sinks: 0 },
    { kind: 'packed', label: 'SKVQ K2V2 (reorder+clip, no window)', key: 'skvq-k2', value: 'skvq-v2', skvq: { kBits: 2, vBits: 2 }, window: 0, sinks: 0 },
    { kind: 'packed', label: 'SKVQ K4V2 (reorder+clip, no window)', key: 'skvq-k4', value: 'skvq-v2', skvq: { kBits: 4, vBits: 2 }, window: 0, sinks: 0 },
    { kind: 'packed', label: 'SKVQ K2V2 (reorder+clip+window 128, sinks 5)', key: 'skvq-k2', value: 'skvq-v2', skvq: { kBits: 2, vBits: 2 }, window: 128, sinks: 5 },
  ];
  // the quality target sweep: both targets scaled together (T_k = 1e3 s, T_v = s / 10); bitsMin 2 (the default)
  for (const s of [1e-3, 1e-2, 1e-1, 1, 10, 100, 1000]) {
    out.push({ kind: 'qaq', label: `QAQ ${level} r=0 s=${s}`, qaq: { ...REF, level, outlierRatio: 0, targetKeyError: 1e3 * s, targetValueError: s / 10 } });
  }
  // the paper's n_bits_min as the knob against falsely promoted keys: bitsMin 4
  for (const s of [1, 10, 100, 1000]) {
    out.push({ kind: 'qaq', label: `QAQ ${level} r=0 bitsMin=4 s=${s}`, qaq: { ...REF, level, outlierRatio: 0, bitsMin: 4, targetKeyError: 1e3 * s, targetValueError: s / 10 } });
  }
  // a longer attention window (the paper's guard against tokens whose importance rises later)
  for (const s of [10, 100, 1000]) {
    out.push({ kind: 'qaq', label: `QAQ ${level} r=0 W=32 s=${s}`, qaq: { ...REF, level, outlierRatio: 0, attentionWindow: 32, targetKeyError: 1e3 * s, targetValueError: s / 10 } });
  }
  // kvpack's defaults (QAQ_DEFAULTS: W 32, bitsMin 4, T_k 1e4, T_v 1, r 0, level auto)
  out.push({ kind: 'qaq', label: `QAQ defaults (${level}, W=32, bitsMin=4, s=10)`, qaq: {} });
  // ablations at one operating point
  const mid = { ...REF, level, targetKeyError: 1e3, targetValueError: 1e-1 } as const;
  out.push(
    { kind: 'qaq', label: `ablation: outliers r=0.01 (${level}, s=1)`, qaq: { ...mid, outlierRatio: 0.01 } },
    { kind: 'qaq', label: `ablation: attention window W=1 (${level}, s=1)`, qaq: { ...mid, outlierRatio: 0, attentionWindow: 1 }, window: 5 },
    { kind: 'qaq', label: `ablation: attention window W=32 (${level}, s=1)`, qaq: { ...mid, outlierRatio: 0, attentionWindow: 32 } },
    { kind: 'qaq', label: `ablation: bitsMin 1 (${level}, s=1)`, qaq: { ...mid, outlierRatio: 0, bitsMin: 1 } },
    { kind: 'qaq', label: `ablation: keys 8-bit, values by formula (${level}, s=1)`, qaq: { ...mid, outlierRatio: 0, targetKeyError: 1e-30 } },
    { kind: 'qaq', label: `ablation: values 8-bit, keys by formula (${level}, s=1)`, qaq: { ...mid, outlierRatio: 0, targetValueError: 1e-30 } },
    { kind: 'qaq', label: `ablation: level ${level === 'head' ? 'layer' : 'head'} (s=1)`, qaq: { ...mid, outlierRatio: 0, level: level === 'head' ? 'layer' : 'head' } },
  );
  for (const b of [2, 3, 4]) out.push({ kind: 'qaq', label: `no attention-awareness: uniform ${b}-bit (${level}, r=0)`, qaq: { ...REF, level, outlierRatio: 0, bitsMin: b, bitsMax: b } });
  return out;
}

async function realWorkload(model: Model, calTokens: number[], evalTokens: number[]): Promise<Workload> {
  const c = model.config;
  const cal = await captureKv(model, calTokens);
  const ev = await captureKv(model, evalTokens);
  const win = c.seqLen;
  const evalWindows: Layer[][] = [];
  for (let s = 0; s < ev.nTokens; s += win) {
    const e = Math.min(ev.nTokens, s + win);
    evalWindows.push(ev.layers.map((l) => ({
      queries: l.queries.subarray(s * c.nHeads * c.headDim, e * c.nHeads * c.headDim),
      keys: l.keys.subarray(s * c.nKvHeads * c.headDim, e * c.nKvHeads * c.headDim),
      values: l.values.subarray(s * c.nKvHeads * c.headDim, e * c.nKvHeads * c.headDim),
    })));
  }
  console.error(`real: calibration ${cal.nTokens} tokens, evaluation ${ev.nTokens} tokens in ${evalWindows.length} windows`);
  return { name: 'stories260K', nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, calib: cal.layers, evalWindows, qaqCal: calibrateQaq(cal) };
}

function syntheticWorkload(): Workload {
  // LLaMA-like head: d = 128, GQA 4; keys with outlier channels, heavy-tailed values.
  const nKv = 2, d = 128, nHeads = 8, n = 1536, half = 1024;
  const K = outlierKeys(n, nKv, d, 1234), V = heavyTailedKv(n, nKv, d, 99);
  const Q = gaussianKv(n, nHeads, d, 7, 0.25);
  const tf = nKv * d, qf = nHeads * d;
  const calib = [{ queries: Q.subarray(0, half * qf), keys: K.subarray(0, half * tf), values: V.subarray(0, half * tf) }];
  return {
    name: 'synthetic', nHeads, nKvHeads: nKv, headDim: d, calib,
    evalWindows: [[{ queries: Q.subarray(half * qf), keys: K.subarray(half * tf), values: V.subarray(half * tf) }]],
    qaqCal: calibrateQaq({ nHeads, nKvHeads: nKv, headDim: d, layers: calib }),
  };
}

/** Perplexity with a QaqKvCache per layer, through ModelRunner: its observe hook feeds QAQ, a backend reads it. */
async function perplexity(model: Model, tokens: number[], ctx: number, windows: number, make: ((layer: number) => QaqKvCache) | null,
  packed?: { key: string; value: string; window: number; sinks: number; calibration?: (layer: number) => { key?: unknown; value?: unknown } }): Promise<{ ppl: number; bits: number }> {
  let nll = 0, count = 0, bits = 0;
  for (let wi = 0; wi < windows; wi++) {
    const qaq = make ? Array.from({ length: model.config.nLayers }, (_, l) => make(l)) : null;
    let runner: ModelRunner | undefined;
    const backend: AttentionBackend | undefined = qaq ? {
      name: 'ts', description: 'QAQ reference',
      attend: async (cache, seqs, q, nHeads) => qaq[runner!.caches.indexOf(cache)]!.attendSync(seqs, q, nHeads),
      dispose: () => undefined,
    } : undefined;
    runner = new ModelRunner(model, {
      cache: qaq ? { key: 'fp32', value: 'fp32' } : (l) => ({ ...packed!, calibration: packed!.calibration?.(l) }),
      ...(backend ? { backend } : {}),
      ...(qaq ? { observe: (l: number, seq: number, _p: number, _q: Float32Array, k: Float32Array, v: Float32Array) => qaq[l]!.append(seq, k, v) } : {}),
    });
    const V = model.config.vocabSize;
    for (let p = 0; p < ctx; p++) {
      const logits = await runner.step([0], [tokens[wi * ctx + p]!]);
      if (p + 1 < ctx) { nll -= logProb(logits.subarray(0, V), tokens[wi * ctx + p + 1]!); count++; }
    }
    if (qaq) {
      let e = 0, n = 0;
      for (const c of qaq) { const s = c.stats(); e += s.effectiveBits * s.tokens; n += s.tokens; }
      bits += e / n;
    } else bits += runner.stats().effectiveBits;
  }
  return { ppl: Math.exp(nll / count), bits: bits / windows };
}

function table(rows: Row[]): string {
  const lines = ['| config | effective bits | mean K width | mean V width | attention rel. error |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.label} | ${r.effectiveBits.toFixed(3)} | ${r.meanKeyWidth?.toFixed(2) ?? '-'} | ${r.meanValueWidth?.toFixed(2) ?? '-'} | ${r.relError.toFixed(4)} |`);
  }
  return lines.join('\n');
}

const results: Record<string, unknown> = {};
const { model, tokenizer } = await loadModel(flag('model', '../shared/models/stories260K'));
const split = splitText(await readFile(flag('text', '../shared/data/tinystories-valid-sample/TinyStories-valid.txt'), 'utf8'));
const calTokens = tokenizeLines(tokenizer, split.calibration).slice(0, 2048);
const evalTokens = tokenizeLines(tokenizer, split.evaluation);
const only = flag('only', '');
for (const make of [() => realWorkload(model, calTokens, evalTokens.slice(0, 2 * model.config.seqLen)), async () => syntheticWorkload()]) {
  const w = await make();
  if (only && w.name !== only) continue;
  const t0 = performance.now();
  const rows = configs(w).map((c) => {
    const r = evaluate(w, c);
    console.error(`${w.name}: ${c.label}: bits ${r.effectiveBits.toFixed(3)} err ${r.relError.toFixed(4)}`);
    return r;
  });
  results[w.name] = rows;
  console.log(`\n### ${w.name} (nHeads ${w.nHeads}, nKvHeads ${w.nKvHeads}, head_dim ${w.headDim}); ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  console.log(table(rows));
  const best = rows.find((r) => r.perLayer && r.label.includes('r=0 s=1'));
  if (best?.perLayer) {
    console.log(`\nper layer / group, ${best.label}: bits per element (K, V) incl. metadata and outliers`);
    for (const l of best.perLayer) console.log(`layer ${l.layer}: ${l.effectiveBits.toFixed(3)} overall; ` + l.groups.map((g) => `${g.head < 0 ? 'all heads' : `head ${g.head}`} K ${g.keyBits.toFixed(2)} V ${g.valueBits.toFixed(2)}`).join(', '));
    console.log(`breakdown of packed bits/element: ${JSON.stringify(best.breakdown)}`);
  }
}

if (!args.includes('--skip-ppl')) {
  const ctx = Number(flag('ctx', '256')), windows = Number(flag('windows', '3'));
  const cal = await captureKv(model, calTokens);
  const qaqCal = calibrateQaq(cal);
  const level = model.config.headDim < 32 ? 'layer' : 'head';
  const ppl: { label: string; bits: number; ppl: number }[] = [];
  const add = async (label: string, r: Promise<{ ppl: number; bits: number }>): Promise<void> => {
    const v = await r;
    ppl.push({ label, ...v });
    console.error(`ppl ${label}: bits ${v.bits.toFixed(3)} ppl ${v.ppl.toFixed(4)}`);
  };
  await add('fp32', perplexity(model, evalTokens, ctx, windows, null, { key: 'fp32', value: 'fp32', window: 0, sinks: 0 }));
  for (const b of [2, 4, 8]) await add(`KIVI-${b}`, perplexity(model, evalTokens, ctx, windows, null, { key: `kivi${b}`, value: `kivi${b}`, window: 0, sinks: 0 }));
  const nKv = model.config.nKvHeads, d = model.config.headDim;
  const skvqCal = (l: number) => ({
    key: calibrateSkvqStream({ kind: 'key', headDim: d, nKvHeads: nKv, data: cal.layers[l]!.keys }, { bits: 2, maxClipTokens: 2048 }),
    value: calibrateSkvqStream({ kind: 'value', headDim: d, nKvHeads: nKv, data: cal.layers[l]!.values }, { bits: 2, maxClipTokens: 2048 }),
  });
  await add('SKVQ K2V2 (no window)', perplexity(model, evalTokens, ctx, windows, null, { key: 'skvq-k2', value: 'skvq-v2', window: 0, sinks: 0, calibration: skvqCal }));
  for (const [bitsMin, s] of [[2, 1e-2], [2, 1e-1], [2, 1], [2, 10], [4, 1], [4, 10], [4, 100], [4, 1000]] as const) {
    await add(`QAQ ${level} bitsMin=${bitsMin} s=${s}`, perplexity(model, evalTokens, ctx, windows, (l) => new QaqKvCache({
      nKvHeads: nKv, headDim: d, packedAttention: memoPackedAttention(),
      qaq: { ...REF, level, outlierRatio: 0, bitsMin, targetKeyError: 1e3 * s, targetValueError: s / 10, qMax: qaqCal.layers[l]!.qMax },
    })));
  }
  for (const s of [10, 100, 1000]) {
    await add(`QAQ ${level} W=32 bitsMin=2 s=${s}`, perplexity(model, evalTokens, ctx, windows, (l) => new QaqKvCache({
      nKvHeads: nKv, headDim: d, packedAttention: memoPackedAttention(),
      qaq: { ...REF, level, outlierRatio: 0, attentionWindow: 32, targetKeyError: 1e3 * s, targetValueError: s / 10, qMax: qaqCal.layers[l]!.qMax },
    })));
  }
  await add('QAQ defaults (W=32, bitsMin=4, s=10)', perplexity(model, evalTokens, ctx, windows, (l) => new QaqKvCache({
    nKvHeads: nKv, headDim: d, packedAttention: memoPackedAttention(), qaq: { qMax: qaqCal.layers[l]!.qMax },
  })));
  await add('QAQ keys 8-bit, values by formula s=10', perplexity(model, evalTokens, ctx, windows, (l) => new QaqKvCache({
    nKvHeads: nKv, headDim: d, packedAttention: memoPackedAttention(),
    qaq: { ...REF, level, outlierRatio: 0, targetKeyError: 1e-30, targetValueError: 1, qMax: qaqCal.layers[l]!.qMax },
  })));
  results.perplexity = { ctx, windows, rows: ppl };
  console.log(`\n### perplexity, stories260K, ctx ${ctx}, ${windows} windows of the evaluation split\n`);
  console.log('| cache | effective bits | perplexity | delta vs fp32 |\n| --- | --- | --- | --- |');
  const base = ppl[0]!.ppl;
  for (const r of ppl) console.log(`| ${r.label} | ${r.bits.toFixed(3)} | ${r.ppl.toFixed(4)} | ${(100 * (r.ppl / base - 1)).toFixed(2)}% |`);
}

const out = flag('json', 'bench/results/quality-qaq.json');
await mkdir(dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ machine: `${process.platform} ${process.arch} node ${process.version}`, date: new Date().toISOString(), results }, null, 1));
console.error(`wrote ${out}`);
