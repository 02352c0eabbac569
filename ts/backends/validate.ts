import { check } from '../errors.js';
import { checkF32, checkSeqIds, typeName } from '../util/args.js';

/**
 * Argument types of AttentionBackend.attend, checked before anything else so a wrong type is a
 * KvpackError naming the argument (not a TypeError from deep inside), with nothing changed.
 * Shapes and sequences are checkQueries' job (ts/reference/attention.ts).
 */
export function checkAttendArgs(cache: unknown, seqs: unknown, q: unknown, nHeads: unknown): void {
  checkCacheArg(cache);
  checkSeqIds(seqs);
  checkF32(q, 'q');
  check(typeof nHeads === 'number' && Number.isInteger(nHeads) && nHeads > 0, 'BAD_SHAPE', `must be a positive integer, got ${String(nHeads)}`, 'nHeads');
}

function checkCacheArg(cache: unknown): void {
  // duck-typed: the WASM workers pass their replica caches (wasm-threads.ts), and a cache from
  // another copy of the bundle is as good
  const c = cache as { view?: unknown; hasSequence?: unknown; key?: unknown } | null;
  check(c !== null && typeof c === 'object' && typeof c.view === 'function' && typeof c.hasSequence === 'function' && typeof c.key === 'object',
    'BAD_PARAM', `must be a PackedKvCache, got ${typeName(cache)}`, 'cache');
  check((cache as { disposed?: boolean }).disposed !== true, 'BAD_PARAM', 'this cache was disposed', 'cache');
}

/** Arguments of AttentionBackend.attentionTolerance: a cache and a head count attend would take. */
export function checkToleranceArgs(cache: unknown, nHeads: unknown): void {
  checkCacheArg(cache);
  const nKv = (cache as { nKvHeads: number }).nKvHeads;
  check(typeof nHeads === 'number' && Number.isInteger(nHeads) && nHeads > 0 && nHeads % nKv === 0, 'BAD_SHAPE',
    `nHeads=${String(nHeads)} must be a positive multiple of nKvHeads=${nKv}`, 'nHeads');
}

