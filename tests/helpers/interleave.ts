import { makeRng } from './data.js';

/** One call of a randomized interleaving script (tests/reliability). */
export type Op = { op: 'append'; seq: number; n: number; seed: number } | { op: 'delete'; seq: number } | { op: 'attend'; seqs: number[]; seed: number };

/** A random script over 3 sequences: appends of 1-40 tokens (tiles seal), deletes, batched attends of live sequences. */
export function interleaveScript(seed: number, ops: number): Op[] {
  const rng = makeRng(seed);
  const live = new Set<number>();
  const out: Op[] = [];
  for (let i = 0; i < ops; i++) {
    const r = rng.uniform();
    const seq = Math.floor(rng.uniform() * 3);
    if (r < 0.4 || live.size === 0) {
      out.push({ op: 'append', seq, n: 1 + Math.floor(rng.uniform() * 40), seed: 1000 + i });
      live.add(seq);
    } else if (r < 0.48 && live.has(seq)) {
      out.push({ op: 'delete', seq });
      live.delete(seq);
    } else {
      const ids = [...live].filter(() => rng.uniform() < 0.7);
      out.push({ op: 'attend', seqs: ids.length ? ids : [[...live][0]!], seed: 5000 + i });
    }
  }
  return out;
}
