import { check } from '../errors.js';

/**
 * Argument types of AttentionBackend.attend, checked before anything else so a wrong type is a
 * KvpackError naming the argument (not a TypeError from deep inside), with nothing changed.
 * Shapes and sequences are checkQueries' job (ts/reference/attention.ts).
 */
export function checkAttendArgs(cache: unknown, seqs: unknown, q: unknown, nHeads: unknown): void {
  // duck-typed: the WASM workers pass their replica caches (wasm-threads.ts), and a cache from
  // another copy of the bundle is as good
  const c = cache as { view?: unknown; hasSequence?: unknown; key?: unknown } | null;
  check(c !== null && typeof c === 'object' && typeof c.view === 'function' && typeof c.hasSequence === 'function' && typeof c.key === 'object',
    'BAD_PARAM', `must be a PackedKvCache, got ${typeName(cache)}`, 'cache');
  check(Array.isArray(seqs), 'BAD_PARAM', `must be an array of sequence ids, got ${typeName(seqs)}`, 'seqs');
  check(seqs.length > 0, 'BAD_SHAPE', 'at least one sequence id is needed', 'seqs');
  for (const s of seqs) check(Number.isInteger(s) && (s as number) >= 0, 'BAD_PARAM', `sequence ids are non-negative integers, got ${String(s)}`, 'seqs');
  check(q instanceof Float32Array, 'BAD_PARAM', `must be a Float32Array, got ${typeName(q)}`, 'q');
  check(typeof nHeads === 'number' && Number.isInteger(nHeads) && nHeads > 0, 'BAD_SHAPE', `must be a positive integer, got ${String(nHeads)}`, 'nHeads');
}

/** For messages: "null", "undefined", "Array", "Float64Array", "string", ... */
export function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}
