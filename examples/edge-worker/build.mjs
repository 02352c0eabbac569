#!/usr/bin/env node
/**
 * Prepares examples/edge-worker/out/ for config.capnp from kvpack's build (npm run build):
 *   out/kvpack.js, out/kvpack.wasm, out/kvpack-relaxed.wasm  the bundle and both WASM builds
 *     (from node_modules/kvpack when the example is used on its own: `kvpack/wasm/base`, ...)
 *   out/cache.bin  the workload's cache (workload.js) as PackedKvCache.serialize() bytes, or an
 *     empty file where this kvpack has no serialize() (the worker then builds the cache itself)
 * Usage: node examples/edge-worker/build.mjs [--kvpack <dir with index.js and the .wasm files>]
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildCache } from './workload.js';

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf('--kvpack');
const dist = at > 0 ? process.argv[at + 1] : join(here, '..', '..', 'dist');
const out = join(here, 'out');
for (const f of ['index.js', 'kvpack.wasm', 'kvpack-relaxed.wasm']) {
  if (!existsSync(join(dist, f))) {
    console.error(`edge-worker: ${join(dist, f)} missing: run \`npm run build\` in the kvpack repository (or pass --kvpack node_modules/kvpack/dist)`);
    process.exit(1);
  }
}
mkdirSync(out, { recursive: true });
copyFileSync(join(dist, 'index.js'), join(out, 'kvpack.js'));
copyFileSync(join(dist, 'kvpack.wasm'), join(out, 'kvpack.wasm'));
copyFileSync(join(dist, 'kvpack-relaxed.wasm'), join(out, 'kvpack-relaxed.wasm'));
const kv = await import(pathToFileURL(join(dist, 'index.js')).href);
const cache = buildCache(kv);
const bytes = typeof cache.serialize === 'function' ? cache.serialize() : new Uint8Array(0);
writeFileSync(join(out, 'cache.bin'), bytes);
console.log(`edge-worker: out/ ready (cache.bin ${bytes.length ? `${bytes.length} bytes, serialized` : 'empty: no serialize() in this kvpack, the worker builds the cache'})`);
