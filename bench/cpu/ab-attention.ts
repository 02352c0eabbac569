/**
 * A/B of two kernel builds on decode attention, in one process on CPU time (the machine is shared,
 * so only interleaved runs in one process compare kernels cleanly):
 *
 *   npx esbuild bench/cpu/ab-attention.ts --bundle --platform=node --format=esm --outfile=build/bench/ab-attention.js
 *   node build/bench/ab-attention.js A.wasm B.wasm kivi2|KEY:VALUE mha|gqa 8192 [ROUNDS]
 *
 * A path ending in `+int` loads that file with the integer-domain kernels switched on
 * (WasmBackendOptions.integerAttention, docs/decisions.md D50): `build/kvpack.wasm build/kvpack.wasm+int`.
 *
 * One cache (LLaMA-like outlier keys, Gaussian values, 32 query heads x 128, packed with B's
 * encoders) is mirrored by both modules; ROUNDS (default 7) interleaved steps each, medians of process CPU time,
 * and max |A - B| of the outputs (kernels that round differently show here).
 */
import { readFileSync } from 'node:fs';
import { PackedKvCache } from '../../ts/cache/kv-cache.js';
import { createCodec } from '../../ts/codecs/index.js';
import { codecInfo } from '../../ts/codecs/registry.js';
import type { StreamCodec } from '../../ts/codecs/types.js';
import { WasmBackend, loadKvpackWasm } from '../../ts/backends/wasm.js';
import { gaussianKv, outlierKeys, randomQuery } from '../../tests/helpers/data.js';
import { WasmTileEncoder, withWasmEncoder } from './wasm-encode.js';

const [a, b, codec, shape, ctxArg, roundsArg] = process.argv.slice(2);
if (!a || !b || !codec || (shape !== 'mha' && shape !== 'gqa') || !ctxArg) {
  throw new Error('usage: ab-attention A.wasm B.wasm CODEC mha|gqa CONTEXT');
}
const ctx = Number(ctxArg), nKv = shape === 'gqa' ? 8 : 32, nHeads = 32, d = 128, chunk = 1024;
const load = async (path: string): Promise<WasmBackend> => {
  const integer = path.endsWith('+int');
  return new WasmBackend(await loadKvpackWasm(readFileSync(integer ? path.slice(0, -4) : path)), { integerAttention: integer });
};
const A = await load(a);
const B = await load(b);
const encoders = await loadKvpackWasm(readFileSync(b.replace(/\+int$/, '')));
// CODEC or KEY:VALUE; calibrated codecs (SKVQ, CQ) calibrate on 256 tokens of the same kind of data
const [keyName, valueName = keyName] = codec.split(':') as [string, string?];
const makeCodec = (name: string, kind: 'key' | 'value'): StreamCodec => {
  const info = codecInfo(name), ctx = { kind, headDim: d, nKvHeads: nKv };
  if (!info.needsCalibration) return createCodec(name, ctx);
  const data = kind === 'key' ? outlierKeys(256, nKv, d, 1) : gaussianKv(256, nKv, d, 7);
  return createCodec(name, { ...ctx, calibration: info.calibrate!({ kind, headDim: d, nKvHeads: nKv, data }) });
};
const kc = makeCodec(keyName, 'key');
const vc = makeCodec(valueName!, 'value');
const cache = new PackedKvCache({
  nKvHeads: nKv, headDim: d, window: 0, sinks: 0,
  key: withWasmEncoder(kc, new WasmTileEncoder(encoders, kc)), value: withWasmEncoder(vc, new WasmTileEncoder(encoders, vc)),
});
for (let t = 0; t < ctx; t += chunk) cache.append(0, outlierKeys(chunk, nKv, d, t + 1), gaussianKv(chunk, nKv, d, t + 7));
const q = randomQuery(nHeads, d, 3);

const cpuMs: [number[], number[]] = [[], []];
let maxDiff = 0;
const rounds = Number(roundsArg ?? 7);
for (let r = 0; r < rounds; r++) {
  const outs: Float32Array[] = [];
  for (const [i, backend] of [A, B].entries()) {
    const c0 = process.cpuUsage();
    outs.push(backend.attendSync(cache, [0], q, nHeads).slice());
    const c = process.cpuUsage(c0);
    cpuMs[i]!.push((c.user + c.system) / 1000);
  }
  for (let i = 0; i < outs[0]!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(outs[0]![i]! - outs[1]![i]!));
}
const median = (x: number[]): number => [...x].sort((p, r) => p - r)[x.length >> 1]!;
const [ma, mb] = [median(cpuMs[0]), median(cpuMs[1])];
const [na, nb] = [Math.min(...cpuMs[0]), Math.min(...cpuMs[1])];
// the minimum too: on a loaded machine it is the run least stretched by other work
console.log(`${codec} ${shape} ${ctx}: A ${ma.toFixed(1)} ms cpu, B ${mb.toFixed(1)} ms cpu, A/B ${(ma / mb).toFixed(2)}x ` +
  `(min ${na.toFixed(1)} / ${nb.toFixed(1)}: ${(na / nb).toFixed(2)}x), max|A-B| ${maxDiff.toExponential(1)}`);
