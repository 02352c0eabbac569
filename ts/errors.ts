/** Every error kvpack throws on bad input or a failed backend. `code` is stable; match on it. */
export type KvpackErrorCode =
  | 'BAD_SHAPE'        // an array's length or a dimension disagrees with the cache/codec
  | 'NON_FINITE'       // NaN or +-Inf in input data
  | 'BAD_PARAM'        // a parameter outside its documented range (bits, group size, ratio...)
  | 'UNKNOWN_CODEC'    // codec name not in the registry
  | 'UNKNOWN_SEQUENCE' // sequence id the cache does not hold
  | 'BAD_CALIBRATION'  // calibration object of another shape/version, invalid permutation...
  | 'CORRUPT_DATA'     // serialized cache/model/calibration bytes that do not parse
  | 'UNSUPPORTED_VERSION' // a saved file of a format version this kvpack does not read (message: both versions)
  | 'BACKEND_UNAVAILABLE' // a requested backend cannot run here
  | 'DEVICE_LOST'      // the GPU device went away
  | 'OUT_OF_RANGE';    // a finite value beyond what a codec or the f32 attention kernels represent (docs/reliability.md)

export class KvpackError extends Error {
  readonly code: KvpackErrorCode;
  /** Name of the argument or field at fault, when there is one. */
  readonly arg: string | undefined;
  constructor(code: KvpackErrorCode, message: string, arg?: string) {
    super(arg ? `${arg}: ${message}` : message);
    this.name = 'KvpackError';
    this.code = code;
    this.arg = arg;
  }
}

export function check(cond: boolean, code: KvpackErrorCode, message: string, arg?: string): asserts cond {
  if (!cond) throw new KvpackError(code, message, arg);
}

/** Throws NON_FINITE naming `arg` and the first bad index. */
export function checkFinite(x: ArrayLike<number>, arg: string): void {
  // Fast pass first (a long PackedKvCache.append spent 30% of its time here); only when it trips,
  // the slow pass finds the first bad element for the message.
  if (x instanceof Float32Array ? allFiniteF32(x) : allFinite(x)) return;
  for (let j = 0; j < x.length; j++) {
    if (!Number.isFinite(x[j])) throw new KvpackError('NON_FINITE', `element ${j} is ${x[j]}`, arg);
  }
}

// v - v is 0 for finite v and NaN for NaN/+-Inf, and NaN survives the sums; four independent sums
// keep the loop short. Two copies so each call site sees one element type (Float32Array: caches).
function allFiniteF32(x: Float32Array): boolean {
  const n = x.length;
  let a = 0, b = 0, c = 0, d = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    const x0 = x[i]!, x1 = x[i + 1]!, x2 = x[i + 2]!, x3 = x[i + 3]!;
    a += x0 - x0; b += x1 - x1; c += x2 - x2; d += x3 - x3;
  }
  for (; i < n; i++) { const v = x[i]!; a += v - v; }
  return a + b + c + d === 0;
}

function allFinite(x: ArrayLike<number>): boolean {
  let a = 0;
  for (let i = 0; i < x.length; i++) { const v = x[i]!; a += v - v; }
  return a === 0;
}
