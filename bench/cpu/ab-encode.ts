/**
 * A/B of two kernel builds' tile encoders alone (tiles already in WASM memory), in one process on
 * CPU time: ns per element for fp16, KIVI, q8_0, q4_0 keys and values and SKVQ (g32, calibrated on
 * the first 512 tokens of the same data), 256 tiles of 32 x 128.
 *
 *   npx esbuild bench/cpu/ab-encode.ts --bundle --platform=node --format=esm --outfile=build/bench/ab-encode.js
 *   node build/bench/ab-encode.js A.wasm B.wasm
 */
import { readFileSync } from 'node:fs';
import { codecInfo, createCodec } from '../../ts/codecs/index.js';
import { loadKvpackWasm } from '../../ts/backends/wasm.js';
import { WasmTileEncoder } from './wasm-encode.js';
import { gaussianKv, outlierKeys } from '../../tests/helpers/data.js';

const [a, b] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: ab-encode A.wasm B.wasm');
const d = 128, tiles = 256, elements = tiles * 32 * d;
const streams: [string, 'key' | 'value'][] = ['fp16', 'kivi2', 'kivi4', 'q8_0', 'q4_0']
  .flatMap((n) => [[n, 'key'], [n, 'value']] as [string, 'key' | 'value'][])
  .concat([['skvq-k2', 'key'], ['skvq-k4', 'key'], ['skvq-v2', 'value'], ['skvq-v1.5', 'value']]);
for (const [name, kind] of streams) {
  {
    const data = kind === 'key' ? outlierKeys(tiles * 32, 1, d, 5) : gaussianKv(tiles * 32, 1, d, 5);
    const info = codecInfo(name);
    const calibration = info.needsCalibration ? info.calibrate!({ kind, headDim: d, nKvHeads: 1, data: data.subarray(0, 512 * d) }) : undefined;
    const codec = createCodec(name, { kind, headDim: d, nKvHeads: 1, calibration });
    const runs = [];
    for (const file of [a, b]) {
      const w = await loadKvpackWasm(readFileSync(file));
      const enc = new WasmTileEncoder(w, codec);
      const x = w.arena.alloc(elements * 4), out = w.arena.alloc(tiles * codec.tileWords * 4);
      w.arena.f32(x, elements).set(data);
      runs.push(() => enc.encodeResident(x, out, tiles, 1));
    }
    const cpuMs: [number[], number[]] = [[], []];
    for (let r = 0; r < 9; r++) {
      for (let i = 0; i < 2; i++) {
        const c0 = process.cpuUsage();
        runs[i]!();
        const c = process.cpuUsage(c0);
        cpuMs[i]!.push((c.user + c.system) / 1000);
      }
    }
    const median = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
    const ns = (ms: number): string => (ms * 1e6 / elements).toFixed(2);
    const [ma, mb] = [median(cpuMs[0]), median(cpuMs[1])];
    console.log(`${name} ${kind}: A ${ns(ma)} ns/el, B ${ns(mb)} ns/el, A/B ${(ma / mb).toFixed(2)}x`);
  }
}
