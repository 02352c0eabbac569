import { check } from '../errors.js';

/** llama2.c's xorshift64* generator, so a seed gives the same stream in every runtime. */
export class XorShiftRng {
  private state: bigint;
  constructor(seed: number) {
    check(Number.isInteger(seed) && seed > 0, 'BAD_PARAM', `must be a positive integer, got ${seed}`, 'seed');
    this.state = BigInt(seed);
  }
  nextU32(): number {
    const M = (1n << 64n) - 1n;
    let s = this.state;
    s ^= s >> 12n;
    s = (s ^ (s << 25n)) & M;
    s ^= s >> 27n;
    this.state = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & M) >> 32n);
  }
  /** Uniform in [0, 1) with 24 bits, as llama2.c random_f32. */
  nextF32(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}

/** Greedy argmax when temperature is 0, else a draw from softmax(logits / temperature). */
export function sampleToken(logits: Float32Array, temperature: number, rng?: XorShiftRng): number {
  check(Number.isFinite(temperature) && temperature >= 0, 'BAD_PARAM', `must be >= 0, got ${temperature}`, 'temperature');
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;
  check(rng !== undefined, 'BAD_PARAM', 'sampling with temperature > 0 needs a random generator', 'rng');
  const p = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < p.length; i++) z += (p[i] = Math.exp((logits[i]! - logits[best]!) / temperature));
  let r = rng.nextF32() * z;
  for (let i = 0; i < p.length; i++) {
    r -= p[i]!;
    if (r < 0) return i;
  }
  return p.length - 1;
}
