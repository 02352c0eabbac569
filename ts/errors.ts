/** Every error kvpack throws on bad input or a failed backend. `code` is stable; match on it. */
export type KvpackErrorCode =
  | 'BAD_SHAPE'        // an array's length or a dimension disagrees with the cache/codec
  | 'NON_FINITE'       // NaN or +-Inf in input data
  | 'BAD_PARAM'        // a parameter outside its documented range (bits, group size, ratio...)
  | 'UNKNOWN_CODEC'    // codec name not in the registry
  | 'UNKNOWN_SEQUENCE' // sequence id the cache does not hold
  | 'BAD_CALIBRATION'  // calibration object of another shape/version, invalid permutation...
  | 'CORRUPT_DATA'     // serialized cache/model/calibration bytes that do not parse
  | 'BACKEND_UNAVAILABLE' // a requested backend cannot run here
  | 'DEVICE_LOST';     // the GPU device went away

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
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new KvpackError('NON_FINITE', `element ${i} is ${x[i]}`, arg);
  }
}
