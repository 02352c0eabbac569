/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every section of a
 * saved cache (docs/FORMAT.md, "Saved caches"). Slicing-by-8 over the bytes: 8 table lookups
 * per 8 input bytes. Written here rather than taken from npm (decisions.md#D60): the maintained
 * pure-JS package (@aws-crypto/crc32c) pulls @aws-sdk/types, @smithy/util-utf8 and tslib into
 * a library bundle that must stay platform-neutral (workerd, browsers), and reads one byte per
 * lookup; tests check this one against it on random inputs.
 */
const TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 8; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n]! >>> 8) ^ t[t[(s - 1) * 256 + n]! & 0xff]!;
  }
  return t;
})();

/** Continues a CRC-32C: `crc32c(b, crc32c(a))` = `crc32c(a ++ b)`. Start value 0. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc >>> 0, i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c = t[1792 + (lo & 0xff)]! ^ t[1536 + ((lo >>> 8) & 0xff)]! ^ t[1280 + ((lo >>> 16) & 0xff)]! ^ t[1024 + (lo >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^ t[512 + bytes[i + 5]!]! ^ t[256 + bytes[i + 6]!]! ^ t[bytes[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
