/** Tables and the target summary of the CPU benchmark (bench/cpu/attention.ts). */
import type { AttentionRow, BenchShape, ScalingRow } from './attention.js';
import type { PackThroughput } from './wasm-encode.js';

/** Issue 6's CPU targets. */
export const TARGET_SPEEDUP_VS_ORT_32K = 3;
export const TARGET_PACK_SPEEDUP_VS_TS = 8;
const TARGET_CONTEXT = 32768;

function pad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

function table(header: string[], rows: string[][], write: (s: string) => void): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : pad(c, widths[i]!))).join('  ');
  write(line(header) + '\n');
  write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
  for (const r of rows) write(line(r) + '\n');
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (x: number | null): string => (x === null ? '-' : x.toFixed(2));

export function printAttentionTable(rows: readonly AttentionRow[], write: (s: string) => void): void {
  for (const shape of [...new Set(rows.map((r) => r.shape))]) {
    const rs = rows.filter((r) => r.shape === shape);
    write(`decode attention, shape ${shape} (ms per step, batch 1)\n`);
    table(
      ['ctx', 'codec', 'K/V bits', 'MiB/step', 'WASM ms', 'WASM cpu', 'WASMt ms', 'GB/s', 'TS cpu', 'ORT ms', 'ORT1 ms', 'ORT1 cpu', 'xORTt', 'xORT', 'xORT1', 'xORT1c', 'xTS', 'rel err', '|WASM-TS|'],
      rs.map((r) => [
        `${r.context / 1024}K`, r.codec, `${r.keyBits.toFixed(2)}/${r.valueBits.toFixed(2)}`,
        (r.bytesPerStep / 2 ** 20).toFixed(1), ms(r.wasm.medianMs), ms(r.wasm.cpuMedianMs), r.wasmThreads ? ms(r.wasmThreads.medianMs) : '-', r.wasmGBs.toFixed(1),
        r.ts ? ms(r.ts.cpuMedianMs) : '-', ms(r.ortMs), ms(r.ort1tMs), ms(r.ort1tCpuMs),
        ratio(r.speedupVsOrtThreads), ratio(r.speedupVsOrt), ratio(r.speedupVsOrt1t), ratio(r.speedupVsOrt1tCpu), ratio(r.speedupVsTs),
        r.relErrVsFp32.toExponential(1), r.wasmVsTsMaxAbs === null ? '-' : r.wasmVsTsMaxAbs.toExponential(1),
      ]),
      write);
    write('\n');
  }
}

/** Tokens (all KV heads of the shape) per second for one stream. */
export function tokensPerSecond(p: PackThroughput, timeMs: number, nKvHeads: number): number {
  return (p.tiles / nKvHeads) * 32 / (timeMs / 1000);
}

export function printPackTable(pack: readonly PackThroughput[], packTokens: number, shape: BenchShape,
  write: (s: string) => void): void {
  write(`quantize+pack, ${packTokens} tokens x ${shape.nKvHeads} KV heads x ${shape.headDim} per stream (tokens/s of one stream, all heads, on process CPU time)\n`);
  table(
    ['codec', 'stream', 'TS tok/s', 'WASM tok/s', 'kernel tok/s', 'xTS', 'xTS kernel', 'words differ'],
    pack.map((p) => [
      p.codec, p.kind,
      tokensPerSecond(p, p.ts.cpuMedianMs, shape.nKvHeads).toFixed(0),
      tokensPerSecond(p, p.wasm.cpuMedianMs, shape.nKvHeads).toFixed(0),
      tokensPerSecond(p, p.wasmKernel.cpuMedianMs, shape.nKvHeads).toFixed(0),
      (p.ts.cpuMedianMs / p.wasm.cpuMedianMs).toFixed(1), (p.ts.cpuMedianMs / p.wasmKernel.cpuMedianMs).toFixed(1),
      String(p.mismatchedTiles),
    ]),
    write);
}

export interface TargetSummary {
  attention32k: {
    shape: string;
    /** The packed (non-fp32) codec with the highest speedup vs onnxruntime at 32K. */
    best: { codec: string; speedupVsOrtThreads: number; threads: number; speedupVsOrt: number; speedupVsOrt1t: number; speedupVsOrt1tCpu: number } | null;
    /** Codecs reaching the target vs onnxruntime at its default threads. */
    meeting: string[];
    target: number;
  }[];
  pack: { codec: string; kind: string; speedupVsTs: number; meets: boolean }[];
  packTarget: number;
}

export function summarizeTargets(rows: readonly AttentionRow[], pack: readonly PackThroughput[]): TargetSummary {
  const shapes = [...new Set(rows.map((r) => r.shape))];
  return {
    attention32k: shapes.map((shape) => {
      const rs = rows.filter((r) => r.shape === shape && r.context === TARGET_CONTEXT && r.codec !== 'fp32');
      // like for like: kvpack on worker threads vs onnxruntime at its default threads (wall time)
      const best = rs.length ? rs.reduce((a, b) => (b.speedupVsOrtThreads > a.speedupVsOrtThreads ? b : a)) : null;
      return {
        shape,
        best: best ? { codec: best.codec, speedupVsOrtThreads: best.speedupVsOrtThreads, threads: best.threads, speedupVsOrt: best.speedupVsOrt,
          speedupVsOrt1t: best.speedupVsOrt1t, speedupVsOrt1tCpu: best.speedupVsOrt1tCpu } : null,
        meeting: rs.filter((r) => r.speedupVsOrtThreads >= TARGET_SPEEDUP_VS_ORT_32K).map((r) => r.codec),
        target: TARGET_SPEEDUP_VS_ORT_32K,
      };
    }),
    pack: pack.map((p) => {
      const s = p.ts.cpuMedianMs / p.wasm.cpuMedianMs;
      return { codec: p.codec, kind: p.kind, speedupVsTs: s, meets: s >= TARGET_PACK_SPEEDUP_VS_TS };
    }),
    packTarget: TARGET_PACK_SPEEDUP_VS_TS,
  };
}

/** The target lines under the tables: met or missed, and by how much. */
export function formatTargets(t: TargetSummary): string {
  const lines: string[] = [];
  for (const a of t.attention32k) {
    if (!a.best) {
      lines.push(`attention >= ${a.target}x onnxruntime fp32 at 32K (${a.shape}): not measured (no 32K packed rows)`);
      continue;
    }
    const verdict = a.best.speedupVsOrtThreads >= a.target ? 'MET' : `MISSED (${(a.target / a.best.speedupVsOrtThreads).toFixed(1)}x short)`;
    lines.push(`attention >= ${a.target}x onnxruntime fp32 at 32K (${a.shape}): best ${a.best.codec} x${a.best.speedupVsOrtThreads.toFixed(2)} on ${a.best.threads} threads` +
      ` (1 thread: x${a.best.speedupVsOrt.toFixed(2)} vs ORT default threads, x${a.best.speedupVsOrt1t.toFixed(2)} vs ORT 1 thread wall, x${a.best.speedupVsOrt1tCpu.toFixed(2)} CPU time): ${verdict}; meeting: ${a.meeting.join(', ') || 'none'}`);
  }
  const packs = t.pack.map((p) => `${p.codec}/${p.kind[0]} x${p.speedupVsTs.toFixed(1)}`);
  const met = t.pack.filter((p) => p.meets).length;
  lines.push(`quantize+pack >= ${t.packTarget}x TS reference: ${met}/${t.pack.length} streams meet it: ${packs.join(', ')}`);
  return lines.map((l) => `target: ${l}\n`).join('');
}

/** Thread scaling (--scaling): WASMt and onnxruntime (same graph) at each thread count, wall time. */
export function printScalingTable(rows: readonly ScalingRow[], write: (s: string) => void): void {
  write('\nthread scaling (wall ms per step, median; x1 = 1-thread time / this; xORT = onnxruntime / WASMt at the same count)\n');
  table(
    ['shape', 'ctx', 'codec', 'threads', 'WASMt ms', 'x1', 'ORT ms', 'ORT x1', 'xORT', '|WASMt-WASM|'],
    rows.map((r) => [
      r.shape, `${r.context / 1024}K`, r.codec, String(r.threads), ms(r.wasmThreads.medianMs), r.speedupVsOne.toFixed(2),
      ms(r.ort.medianMs), r.ortSpeedupVsOne.toFixed(2), r.speedupVsOrtSameThreads.toFixed(2), r.maxAbsVsOneThread.toExponential(1),
    ]),
    write);
}
