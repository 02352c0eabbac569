/** Wall-clock timing for the CPU benchmark: warm-up runs, then the median of timed runs. */

export interface Timing {
  /** Median wall-clock milliseconds of the timed runs. */
  medianMs: number;
  minMs: number;
  /**
   * Median process CPU milliseconds (user + system, all threads) of the timed runs. For
   * single-threaded work this is the time it computed, without the time it waited for a core
   * while other processes ran: the robust figure on a shared machine.
   */
  cpuMedianMs: number;
  runs: number;
}

/** Runs fn once; [wall ms, process CPU ms]. */
async function measure(fn: () => unknown): Promise<[number, number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [wall, (c.user + c.system) / 1000];
}

function summarize(wall: number[], cpu: number[], runs: number): Timing {
  return { medianMs: median(wall), minMs: Math.min(...wall), cpuMedianMs: median(cpu), runs };
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
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const [w, c] = await measure(fn);
    wall.push(w);
    cpu.push(c);
  }
  return summarize(wall, cpu, runs);
}

/**
 * Times several functions in alternating rounds (a, b, c, a, b, c, ...), so that a burst of load
 * from other processes hits all of them alike and their ratio stays meaningful on a shared machine.
 */
export async function timeInterleaved(fns: readonly (() => unknown)[], warmup: number, runs: number): Promise<Timing[]> {
  for (let i = 0; i < warmup; i++) for (const f of fns) await f();
  const wall: number[][] = fns.map(() => []), cpu: number[][] = fns.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < fns.length; k++) {
      const [w, c] = await measure(fns[k]!);
      wall[k]!.push(w);
      cpu[k]!.push(c);
    }
  }
  return wall.map((w, k) => summarize(w, cpu[k]!, runs));
}
