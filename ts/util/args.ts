import { check } from '../errors.js';

/**
 * Argument-type checks for public entries (issue 18): a wrong type (null options, a plain array
 * for a Float32Array, a string for a sequence id) is a KvpackError naming the argument, thrown
 * before any state changes, instead of a TypeError from inside.
 */

/** For messages: "null", "undefined", "Array", "Float64Array", "string", ... */
export function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** An options object (not null, not an array). */
export function checkObject(x: unknown, arg: string): asserts x is Record<string, unknown> {
  check(x !== null && typeof x === 'object' && !Array.isArray(x) && !ArrayBuffer.isView(x), 'BAD_PARAM', `must be an options object, got ${typeName(x)}`, arg);
}

/** undefined, or an options object. */
export function checkOptionalObject(x: unknown, arg: string): void {
  if (x !== undefined) checkObject(x, arg);
}

export function checkF32(x: unknown, arg: string): asserts x is Float32Array {
  check(x instanceof Float32Array, 'BAD_PARAM', `must be a Float32Array, got ${typeName(x)}`, arg);
}

export function checkBytes(x: unknown, arg: string): asserts x is Uint8Array {
  check(x instanceof Uint8Array, 'BAD_PARAM', `must be a Uint8Array, got ${typeName(x)}`, arg);
}

/** A non-empty array of non-negative integer sequence ids. */
export function checkSeqIds(x: unknown, arg = 'seqs'): asserts x is number[] {
  check(Array.isArray(x), 'BAD_PARAM', `must be an array of sequence ids, got ${typeName(x)}`, arg);
  check(x.length > 0, 'BAD_SHAPE', 'at least one sequence id is needed', arg);
  for (const s of x) check(Number.isInteger(s) && (s as number) >= 0, 'BAD_PARAM', `sequence ids are non-negative integers, got ${String(s)}`, arg);
}

/** undefined, or a function (callbacks: onProgress, log, observe). */
export function checkOptionalFn(x: unknown, arg: string): void {
  check(x === undefined || typeof x === 'function', 'BAD_PARAM', `must be a function, got ${typeName(x)}`, arg);
}

/** undefined, or a boolean. */
export function checkOptionalBool(x: unknown, arg: string): void {
  check(x === undefined || typeof x === 'boolean', 'BAD_PARAM', `must be true or false, got ${typeName(x)}`, arg);
}

/** undefined, or a finite number (range checks stay with the caller). */
export function checkOptionalNumber(x: unknown, arg: string): void {
  check(x === undefined || (typeof x === 'number' && !Number.isNaN(x)), 'BAD_PARAM', `must be a number, got ${typeName(x)}`, arg);
}

/** A non-negative integer id (a sequence). */
export function checkSeqId(x: unknown, arg = 'seq'): asserts x is number {
  check(Number.isInteger(x) && (x as number) >= 0, 'BAD_PARAM', `must be a non-negative integer, got ${typeof x === 'number' ? x : typeName(x)}`, arg);
}

/** An array (or a typed array) of numbers: samples, weights, token ids. Strings are not accepted. */
export function checkNumbers(x: unknown, arg: string): asserts x is ArrayLike<number> {
  check(Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView)), 'BAD_PARAM',
    `must be an array or a typed array of numbers, got ${typeName(x)}`, arg);
}

/** An array (or an integer typed array) of integers in [0, limit): token ids. */
export function checkTokenIds(x: unknown, limit: number, arg = 'tokens'): asserts x is readonly number[] {
  checkNumbers(x, arg);
  for (let i = 0; i < x.length; i++) {
    const t = x[i];
    check(Number.isInteger(t) && (t as number) >= 0 && (t as number) < limit, 'BAD_PARAM', `token ${String(t)} outside [0, ${limit})`, arg);
  }
}

/** An array (a list of layers, caches...). */
export function checkArray(x: unknown, arg: string): asserts x is readonly unknown[] {
  check(Array.isArray(x), 'BAD_PARAM', `must be an array, got ${typeName(x)}`, arg);
}

/** A GPU buffer slice { buffer: GPUBuffer, offset? } (duck-typed: GPUBuffer is not a global in Node). */
export function checkGpuSlice(x: unknown, arg: string): void {
  checkObject(x, arg);
  const b = x.buffer as { size?: unknown; usage?: unknown } | null | undefined;
  check(b !== null && typeof b === 'object' && typeof b.size === 'number' && typeof b.usage === 'number', 'BAD_PARAM',
    `must be { buffer: GPUBuffer, offset? }, got buffer ${typeName(b)}`, arg);
  check(x.offset === undefined || Number.isInteger(x.offset), 'BAD_PARAM', `offset must be an integer, got ${typeName(x.offset)}`, arg);
}

/** A GPUCommandEncoder (duck-typed). */
export function checkEncoder(x: unknown, arg = 'encoder'): void {
  check(x !== null && typeof x === 'object' && typeof (x as { beginComputePass?: unknown }).beginComputePass === 'function'
    && typeof (x as { copyBufferToBuffer?: unknown }).copyBufferToBuffer === 'function', 'BAD_PARAM', `must be a GPUCommandEncoder, got ${typeName(x)}`, arg);
}

/** A loaded kvpack.wasm instance (loadKvpackWasm()), duck-typed: `fn(name)` and an arena. */
export function checkWasmInstance(x: unknown, arg = 'wasm'): void {
  check(x !== null && typeof x === 'object' && typeof (x as { fn?: unknown }).fn === 'function', 'BAD_PARAM',
    `must be a kvpack.wasm instance (loadKvpackWasm()), got ${typeName(x)}`, arg);
}
