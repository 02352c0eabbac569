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
