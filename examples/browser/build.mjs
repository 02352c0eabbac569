#!/usr/bin/env node
/**
 * Builds the browser example into examples/browser/out/ (a static folder: index.html + app.js):
 * esbuild bundles app.ts with kvpack's sources; the two WASM builds (build/*.wasm, from
 * `npm run build:wasm`) are inlined as the library bundle does (scripts/build.mjs), so the page
 * needs no side files. Serve the folder with any static server, e.g. `node serve.mjs`.
 * Usage: node examples/browser/build.mjs [--outdir DIR]
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const at = process.argv.indexOf('--outdir');
const out = at > 0 ? process.argv[at + 1] : join(here, 'out');

export function wasmDefines() {
  const define = {};
  for (const [name, file] of [['__KVPACK_WASM_BASE64__', 'kvpack.wasm'], ['__KVPACK_WASM_RELAXED_BASE64__', 'kvpack-relaxed.wasm']]) {
    const p = join(root, 'build', file);
    if (!existsSync(p)) throw new Error(`${p} missing: run \`npm run build:wasm\` (npm run build does)`);
    define[name] = JSON.stringify(readFileSync(p).toString('base64'));
  }
  return define;
}

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'app.ts')],
  outfile: join(out, 'app.js'),
  bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: 'linked',
  define: wasmDefines(), logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
console.log(`browser example: ${out}/index.html, app.js`);
