/**
 * `kvpack eval` at several context lengths in one process, so calibrated codecs (CQ's k-means
 * over tens of thousands of self-generated tokens) calibrate once for all of them. Same code
 * path as the CLI (evaluatePerplexity over the evaluation split, CaptureCalibrator over a
 * capture, formatTable), same JSON shape per context, so bench/quality-codebooks.ts reads it.
 *
 *   node build/h11/kvpack.mjs capture --model ../shared/models/stories260K --self-generate 50000 --backend wasm --out selfgen50k.kvcap
 *   npx esbuild bench/quality-selfcal.ts --bundle --platform=node --format=esm --outfile=build/bench/quality-selfcal.mjs
 *   node build/bench/quality-selfcal.mjs --calib selfgen50k.kvcap --ctx 512,256 --codecs cq-4c8b,cq-8c8b@s4 \
 *     --out bench/results/quality-selfcal   # writes quality-selfcal-ctx512.json, -ctx256.json
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { chooseBackend } from '../ts/backends/detect.js';
import type { BackendName } from '../ts/backends/types.js';
import { formatTable } from '../ts/cli/eval.js';
import '../ts/codecs/index.js';
import { loadKvpackWasm } from '../ts/backends/wasm-loader.js';
import { calibrateCqStream, type KmeansFn } from '../ts/codecs/cq/calibrate.js';
import { CqCodec } from '../ts/codecs/cq/codec.js';
import { cqName, parseCqName } from '../ts/codecs/cq/config.js';
import { codecInfo, registerCodec } from '../ts/codecs/registry.js';
import { kmeansWasm } from '../ts/codecs/cq/wasm.js';
import type { StreamKind } from '../ts/codecs/types.js';
import { calibrationKey, CaptureCalibrator } from '../ts/model/calibrate-from-capture.js';
import type { KvCapture } from '../ts/model/kv-capture.js';
import type { ModelConfig } from '../ts/model/config.js';
import { pairingLayerSpec, parsePairing } from '../ts/model/codec-pairing.js';
import { loadKvCapture } from '../ts/model/kv-capture-file.js';
import { loadModel } from '../ts/model/load-model.js';
import { describeMachine } from '../ts/model/machine.js';
import { evaluatePerplexity, type PerplexityResult } from '../ts/model/perplexity.js';
import { splitText, tokenizeLines } from '../ts/model/text-split.js';

/**
 * CaptureCalibrator whose CQ k-means runs in WASM (kmeansWasm: the same centroids as the TS
 * oracle bit for bit, tests/conformance/cq-wasm.test.ts), several times faster on 50K tokens.
 * The registry's calibrate hook has no WASM handle, hence the override here; other codecs go
 * through the hook unchanged.
 */
class WasmCqCalibrator extends CaptureCalibrator {
  private readonly cq = new Map<string, unknown>();
  constructor(capture: KvCapture, config: ModelConfig, private readonly kmeans: KmeansFn) { super(capture, config); }
  override forLayer(codec: string, kind: StreamKind, layer: number, fisher = false, extra: Record<string, unknown> = {}, rotation?: number): unknown {
    // Fisher weights through a rotation: the base class's typed refusal (decisions.md#D31)
    if (!codec.startsWith('cq-') || (fisher && rotation !== undefined)) return super.forLayer(codec, kind, layer, fisher, extra, rotation);
    const k = calibrationKey(codec, kind, layer, fisher, extra, rotation);
    if (!this.cq.has(k)) {
      const L = this.capture.layers[layer]!;
      const weights = kind === 'key' ? L.keysFisher : L.valuesFisher;
      if (fisher && !weights) throw new Error('@fisher needs a capture with Fisher weights (kvpack capture --fisher)');
      // a rotated stream (@rk / @rv) calibrates on the rotated rows
      this.cq.set(k, calibrateCqStream(this.rows(kind, layer, rotation).data, { kind, nKvHeads: this.capture.nKvHeads, headDim: this.capture.headDim },
        { ...parseCqName(codec), kmeans: this.kmeans, ...(fisher ? { fisher: weights! } : {}) }));
    }
    return this.cq.get(k);
  }
}

function tryInfo(name: string): boolean {
  try { codecInfo(name); return true; } catch { return false; }
}

function flag(argv: string[], name: string, def?: string): string {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? argv[i + 1] : def;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

async function main(argv: string[]): Promise<void> {
  const modelDir = flag(argv, 'model', '../shared/models/stories260K');
  const textFile = flag(argv, 'text', '../shared/data/tinystories-valid-sample/TinyStories-valid.txt');
  const calib = flag(argv, 'calib');
  const ctxs = flag(argv, 'ctx', '512').split(',').map(Number);
  const specs = ['fp32', ...flag(argv, 'codecs').split(',').filter((s) => s !== 'fp32')];
  const out = flag(argv, 'out');
  // CQ shapes the registry does not name (e.g. cq-2c6b: 3 bits per channel), registered here only,
  // as ts/codecs/cq/index.ts registers the paper's; calibration goes through WasmCqCalibrator.
  for (const name of flag(argv, 'extra-cq', '').split(',').filter(Boolean)) {
    const cfg = parseCqName(name);
    if (!tryInfo(cqName(cfg))) {
      registerCodec({ name: cqName(cfg), summary: `CQ ${name} (bench only)`, streams: ['key', 'value'], needsCalibration: true,
        create: (ctx) => new CqCodec(cfg, ctx), calibrate: () => { throw new Error('calibrated by WasmCqCalibrator'); } });
    }
  }
  const pairings = specs.map(parsePairing);
  const { model, tokenizer, files } = await loadModel(modelDir);
  const split = splitText(readFileSync(textFile, 'utf8'));
  const tokens = tokenizeLines(tokenizer, split.evaluation);
  const cap = await loadKvCapture(calib);
  const calibrator = new WasmCqCalibrator(cap, model.config, kmeansWasm(await loadKvpackWasm()));
  const { backend, report } = await chooseBackend({ prefer: flag(argv, 'backend', 'wasm') as BackendName, env: process.env, log: () => {} });

  // Calibrate every pairing up front (timed), so the per-context runs only decode.
  for (const p of pairings) {
    const t0 = performance.now();
    // the calibrations evaluatePerplexity will ask for (group size, rotation: pairingLayerSpec)
    for (let l = 0; l < model.config.nLayers; l++) pairingLayerSpec(p, model.config, l, calibrator);
    process.stderr.write(`calibrated ${p.label} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  for (const ctx of ctxs) {
    const windows = Math.floor(tokens.length / ctx);
    const results: PerplexityResult[] = [];
    for (const p of pairings) {
      const r = await evaluatePerplexity(model, tokens, p, { ctx, backend, calibrator });
      process.stderr.write(`ctx ${ctx} ${p.label}: ${r.perplexity.toFixed(4)} at ${r.cache.effectiveBits.toFixed(2)} bits (${r.seconds.toFixed(0)} s)\n`);
      results.push(r);
    }
    const base = results[0]!;
    console.log(formatTable(results, base));
    console.log(`ctx ${ctx}, ${windows} windows x ${ctx - 1} predictions = ${windows * (ctx - 1)} tokens scored; calibration ${calib} (${cap.nTokens} tokens)\n`);
    const file = `${out}-ctx${ctx}.json`;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({
      command: `node build/bench/quality-selfcal.mjs ${argv.join(' ')}`, date: new Date().toISOString(), machine: describeMachine(), backend: report,
      model: { path: modelDir, files, config: model.config },
      text: { path: textFile, evaluationLines: split.evaluation.length, evaluationTokens: tokens.length },
      ctx, windows, calibration: { used: true, source: calib, tokens: cap.nTokens },
      results: results.map((r) => ({ ...r, deltaVsFp32Percent: 100 * (r.perplexity / base.perplexity - 1) })),
    }, null, 2) + '\n');
  }
  backend.dispose();
}

await main(process.argv.slice(2));
