/**
 * CRC-32C of kvpack (ts/serialize/crc32c.ts, slicing-by-8) against @aws-crypto/crc32c (one
 * table lookup per byte) on the same 16 MiB, in one process, CPU time, best of 5
 * (docs/decisions.md#D60). Run: npx esbuild bench/crc32c.ts --bundle --platform=node
 * --format=esm --packages=external --outfile=build/bench/crc32c.js && node build/bench/crc32c.js
 * (external: bundled, @aws-crypto/crc32c's dependency @smithy/util-buffer-from requires Node's
 * 'buffer' and fails in an ESM bundle: "Dynamic require of "buffer" is not supported")
 */
import { crc32c as aws } from '@aws-crypto/crc32c';
import { crc32c } from '../ts/serialize/crc32c.js';

const bytes = new Uint8Array(16 << 20);
for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
function best(fn: () => number): { ms: number; v: number } {
  let ms = Infinity, v = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    v = fn();
    const u = process.cpuUsage(t0);
    ms = Math.min(ms, (u.user + u.system) / 1000);
  }
  return { ms, v };
}
const a = best(() => aws(bytes)), k = best(() => crc32c(bytes));
if (a.v !== k.v) throw new Error(`checksums differ: ${a.v} ${k.v}`);
const mbs = (ms: number) => (bytes.length / 1e6 / (ms / 1000)).toFixed(0);
console.log(`CRC-32C of 16 MiB: @aws-crypto/crc32c ${mbs(a.ms)} MB/s, kvpack ${mbs(k.ms)} MB/s (${(a.ms / k.ms).toFixed(2)}x)`);
