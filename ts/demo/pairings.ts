import { KvpackError } from '../errors.js';
import type { CodecInfo } from '../codecs/types.js';

/** One cache configuration of the demo: a key codec and a value codec. */
export interface Pairing {
  /** `name` when both streams use one codec, else `key/value`. */
  label: string;
  key: string;
  value: string;
}

/**
 * Mixed pairings worth a row when their codecs are registered: keys deserve more bits than
 * values (keys have outlier channels and feed the softmax; KIVI and SKVQ's K2V1.5 make the same
 * point), so these spend the bits on keys.
 */
const MIXED: readonly (readonly [string, string])[] = [
  ['kivi4', 'kivi2'],
  ['q8_0', 'q4_0'],
];

function pairing(key: string, value: string): Pairing {
  return { label: key === value ? key : `${key}/${value}`, key, value };
}

/** Codec family: the name up to the first '-' (skvq-k2 -> skvq), so split K/V codecs pair up. */
function family(name: string): string {
  const i = name.indexOf('-');
  return i < 0 ? name : name.slice(0, i);
}

/**
 * Every registered codec on both streams; a key-only codec pairs with each value-only codec of
 * its family (SKVQ's K2V1.5, K4V2...), and with fp16 when its family has none (and vice versa);
 * then the mixed pairings whose codecs exist.
 */
export function defaultPairings(codecs: readonly CodecInfo[]): Pairing[] {
  const out: Pairing[] = [];
  const names = new Set(codecs.map((c) => c.name));
  const keyOnly = codecs.filter((c) => c.streams.includes('key') && !c.streams.includes('value'));
  const valueOnly = codecs.filter((c) => c.streams.includes('value') && !c.streams.includes('key'));
  for (const c of codecs) {
    const k = c.streams.includes('key'), v = c.streams.includes('value');
    if (k && v) out.push(pairing(c.name, c.name));
    else if (k) {
      const partners = valueOnly.filter((x) => family(x.name) === family(c.name));
      if (partners.length === 0) out.push(pairing(c.name, 'fp16'));
      for (const x of partners) out.push(pairing(c.name, x.name));
    } else if (v && !keyOnly.some((x) => family(x.name) === family(c.name))) {
      out.push(pairing('fp16', c.name));
    }
  }
  for (const [k, v] of MIXED) if (names.has(k) && names.has(v)) out.push(pairing(k, v));
  return out;
}

/**
 * Families with many configurations whose TS reference encoder is slow run only their headline
 * configurations by default, so `npm start` stays a few minutes on 2 cores: CQ's nearest-centroid
 * search over 2^b centroids costs ~40x a KIVI tile (cq-8c8b: 1 bit per channel, the paper's
 * title result; cq-4c8b: 2 bits per channel). `--codecs all` runs every configuration.
 */
export const DEFAULT_FAMILY_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  cq: ['cq-8c8b', 'cq-4c8b'],
};

/** The pairings `kvpack demo` runs without --codecs, and the registered codecs it leaves out. */
export function defaultSelection(codecs: readonly CodecInfo[]): { pairings: Pairing[]; leftOut: string[] } {
  const leftOut: string[] = [];
  const kept = codecs.filter((c) => {
    const members = DEFAULT_FAMILY_MEMBERS[family(c.name)];
    const keep = !members || !codecs.some((x) => members.includes(x.name)) || members.includes(c.name);
    if (!keep) leftOut.push(c.name);
    return keep;
  });
  return { pairings: defaultPairings(kept), leftOut };
}

/** Parses `--codecs` items: `name` (both streams) or `key/value`. Names are checked later by the registry. */
export function parsePairings(items: readonly string[]): Pairing[] {
  return items.map((item) => {
    const parts = item.split('/');
    if (parts.length > 2 || parts.some((p) => p.length === 0)) {
      throw new KvpackError('BAD_PARAM', `'${item}' is not 'codec' or 'keyCodec/valueCodec'`, '--codecs');
    }
    return pairing(parts[0]!, parts[1] ?? parts[0]!);
  });
}
