#!/usr/bin/env node
// Bundles one bench script (TypeScript) into a self-contained ESM file with kvpack.wasm inlined,
// as scripts/build.mjs does for dist/: node scripts/build-bench-bundle.mjs bench/X.ts build/bench/X.mjs
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) throw new Error('usage: build-bench-bundle.mjs ENTRY.ts OUT.mjs (after npm run build:wasm)');
await build({
  entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'es2022',
  define: {
    __KVPACK_WASM_BASE64__: JSON.stringify(readFileSync('build/kvpack.wasm').toString('base64')),
    __KVPACK_WASM_RELAXED_BASE64__: JSON.stringify(readFileSync('build/kvpack-relaxed.wasm').toString('base64')),
  },
  external: ['webgpu', 'onnxruntime-node'], logLevel: 'warning',
});
