import { check, KvpackError } from '../../errors.js';

/**
 * A CQ configuration, CQ-<c>c<b>b (Zhang et al. 2024, arXiv 2405.03917, Sec. 3): `c` contiguous
 * channels of one head are coupled into a group, and each group of each token is stored as one
 * `b`-bit index into a codebook of 2^b centroids in R^c: b/c bits per channel.
 */
export interface CqConfig {
  /** c: channels coupled into one group. */
  readonly channelsPerGroup: number;
  /** b: bits of one group code; the codebook has 2^b centroids. */
  readonly bits: number;
}

/** Group sizes kvpack accepts: powers of two, so a group never straddles a head (headDim % 8 == 0). */
export const CQ_GROUP_SIZES: readonly number[] = [1, 2, 4, 8, 16, 32];
/**
 * Code widths: 1..12. 12 bits = 4096 centroids bounds the codebook (headDim x 4096 floats per
 * head) and the lookup tables (one f32 per centroid per group per query head).
 */
export const CQ_MAX_BITS = 12;
/** Floats of one group's codebook at most (2^b * c): the WASM kernels decode one group at a time. */
export const CQ_MAX_GROUP_FLOATS = 65536;

/** The configurations registered by name: the paper's (Tables 1-3) plus none of our own. */
export const CQ_REGISTERED: readonly CqConfig[] = [
  { channelsPerGroup: 2, bits: 8 },  // 4 bits/channel
  { channelsPerGroup: 4, bits: 8 },  // 2 bits/channel
  { channelsPerGroup: 4, bits: 9 },  // 2.25 bits/channel
  { channelsPerGroup: 8, bits: 8 },  // 1 bit/channel
  { channelsPerGroup: 8, bits: 10 }, // 1.25 bits/channel
];

export function cqName(cfg: CqConfig): string {
  return `cq-${cfg.channelsPerGroup}c${cfg.bits}b`;
}

/** Parses 'cq-8c8b' (case-insensitive, 'CQ-8c8b' as the paper writes it). */
export function parseCqName(name: string): CqConfig {
  const m = /^cq-(\d+)c(\d+)b$/i.exec(name);
  if (!m) throw new KvpackError('UNKNOWN_CODEC', `'${name}' is not a CQ name (cq-<c>c<b>b)`, 'codec');
  const cfg = { channelsPerGroup: Number(m[1]), bits: Number(m[2]) };
  checkCqConfig(cfg);
  return cfg;
}

export function checkCqConfig(cfg: CqConfig, headDim?: number): void {
  check(CQ_GROUP_SIZES.includes(cfg.channelsPerGroup), 'BAD_PARAM',
    `channels per group must be one of ${CQ_GROUP_SIZES.join(', ')}, got ${cfg.channelsPerGroup}`, 'channelsPerGroup');
  check(Number.isInteger(cfg.bits) && cfg.bits >= 1 && cfg.bits <= CQ_MAX_BITS, 'BAD_PARAM',
    `bits must be an integer in [1, ${CQ_MAX_BITS}], got ${cfg.bits}`, 'bits');
  // one group's codebook (2^b x c floats) must fit the kernels' static decode buffer (256 KiB)
  check(2 ** cfg.bits * cfg.channelsPerGroup <= CQ_MAX_GROUP_FLOATS, 'BAD_PARAM',
    `2^${cfg.bits} centroids x ${cfg.channelsPerGroup} channels exceeds ${CQ_MAX_GROUP_FLOATS} floats per group codebook`, 'bits');
  if (headDim !== undefined) {
    check(headDim % cfg.channelsPerGroup === 0, 'BAD_SHAPE',
      `headDim ${headDim} is not a multiple of ${cfg.channelsPerGroup} channels per group`, 'headDim');
  }
}

/** Derived sizes of one stream coded with `cfg`. */
export interface CqShape extends CqConfig {
  readonly headDim: number;
  readonly nKvHeads: number;
  /** G = headDim / c groups per token per head. */
  readonly groups: number;
  /** K = 2^b centroids per group. */
  readonly centroids: number;
  /** Codebook floats per head: G * K * c = headDim * 2^b. */
  readonly headFloats: number;
  /** u32 words of one tile: 32 tokens * G codes * b bits / 32 = G * b. */
  readonly tileWords: number;
}

export function cqShape(cfg: CqConfig, headDim: number, nKvHeads: number): CqShape {
  checkCqConfig(cfg, headDim);
  const groups = headDim / cfg.channelsPerGroup;
  const centroids = 2 ** cfg.bits;
  return {
    channelsPerGroup: cfg.channelsPerGroup, bits: cfg.bits, headDim, nKvHeads, groups, centroids,
    headFloats: headDim * centroids,
    tileWords: groups * cfg.bits, // TILE_TOKENS (32) codes of b bits per group: exactly b words each
  };
}
