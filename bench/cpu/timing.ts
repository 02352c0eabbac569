/** Wall-clock timing for the CPU benchmark: warm-up runs, then the median of timed runs. */

export interface Timing {
  /** Median milliseconds of the timed runs. */
  medianMs: number;
  minMs: number;
  runs: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/**
 * Runs fn `warmup` times untimed (JIT tiers, page faults of fresh buffers, onnxruntime's first
 * run allocations), then `runs` times timed. Medians, because the 2 cores are shared with other
 * processes and single runs pick up their bursts.
 */
export async function timeIt(fn: () => unknown, warmup: number, runs: number): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return { medianMs: median(ms), minMs: Math.min(...ms), runs };
}

/**
 * Times several functions in alternating rounds (a, b, c, a, b, c, ...), so that a burst of load
 * from other processes hits all of them alike and their ratio stays meaningful on a shared machine.
 */
export async function timeInterleaved(fns: readonly (() => unknown)[], warmup: number, runs: number): Promise<Timing[]> {
  for (let i = 0; i < warmup; i++) for (const f of fns) await f();
  const ms: number[][] = fns.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < fns.length; k++) {
      const t0 = performance.now();
      await fns[k]!();
      ms[k]!.push(performance.now() - t0);
    }
  }
  return ms.map((m) => ({ medianMs: median(m), minMs: Math.min(...m), runs }));
}
