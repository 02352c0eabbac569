#!/usr/bin/env node
/**
 * Bundles kvpack with esbuild into dist/:
 *   dist/index.js  the library (ESM, platform-neutral): Node >= 20, Deno, Bun, browsers
 *   dist/cli.js    the `kvpack` command (ESM, Node; `#!/usr/bin/env node`)
 *
 * Assets travel inside the bundle, so dist/ is self-contained and works from a CDN, a
 * bundler, `deno run npm:kvpack` or a plain <script type=module> without fs or fetch paths:
 *   - WASM: build/kvpack.wasm and build/kvpack-relaxed.wasm (from `npm run build:wasm`) are
 *     base64-inlined through the compile-time constants __KVPACK_WASM_BASE64__ and
 *     __KVPACK_WASM_RELAXED_BASE64__ that ts/backends/wasm-loader.ts decodes in loadKvpackWasm()
 *     when called without bytes (the relaxed one where the runtime validates it). Run from
 *     sources (vitest, Deno on .ts) the constants are absent and the loader reads build/ instead.
 *     The same two files are also copied to dist/kvpack.wasm and dist/kvpack-relaxed.wasm
 *     (package exports `kvpack/wasm/base`, `kvpack/wasm/relaxed`) for runtimes that forbid
 *     compiling bytes (workerd: import the file as a `wasm` module and pass the compiled
 *     WebAssembly.Module to createWasmBackend) and for bundlers that ship .wasm assets.
 *   - WGSL: ts/backends/webgpu/shaders.generated.ts (scripts/gen-wgsl.mjs) is a plain TS module,
 *     bundled like any other.
 * `webgpu` (Node's Dawn addon, a native module) stays external: it is imported on demand only
 * where there is no navigator.gpu, and a native .node file cannot be bundled.
 *
 * Usage: node scripts/build.mjs [--no-minify]
 */
import { build } from 'esbuild';
import { existsSync, readFileSync, statSync, chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const wasmPath = join(root, 'build', 'kvpack.wasm');
const relaxedPath = join(root, 'build', 'kvpack-relaxed.wasm');
const minify = !process.argv.includes('--no-minify');

function fail(msg) {
  console.error(`build: ${msg}`);
  process.exit(1);
}

if (!existsSync(wasmPath)) fail(`${wasmPath} is missing: run \`npm run build:wasm\` first (npm run build does)`);
const wasm = readFileSync(wasmPath);
if (!WebAssembly.validate(wasm)) fail(`${wasmPath} is not a valid WebAssembly module for this runtime`);
// Node 20 does not validate relaxed SIMD without a flag: the bytes are inlined unchecked here and
// checked by the relaxed conformance run (npm test, node --experimental-wasm-relaxed-simd)
if (!existsSync(relaxedPath)) fail(`${relaxedPath} is missing: run \`npm run build:wasm\` first (npm run build does)`);
const relaxed = readFileSync(relaxedPath);

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: 'linked',
  minifySyntax: minify,
  minifyWhitespace: minify,
  // Keep identifiers: stack traces and error names (KvpackError) stay readable.
  minifyIdentifiers: false,
  legalComments: 'none',
  define: {
    __KVPACK_WASM_BASE64__: JSON.stringify(wasm.toString('base64')),
    __KVPACK_WASM_RELAXED_BASE64__: JSON.stringify(relaxed.toString('base64')),
  },
  external: ['webgpu'],
  logLevel: 'warning',
  metafile: true,
};

const outputs = [];
const lib = await build({
  ...common,
  entryPoints: [join(root, 'ts', 'index.ts')],
  outfile: join(root, 'dist', 'index.js'),
  // neutral: no Node built-ins assumed; modules that need node:* import them dynamically.
  platform: 'neutral',
  external: [...common.external, 'node:*'],
});
outputs.push(lib);
const cli = await build({
  ...common,
  entryPoints: [join(root, 'ts', 'cli', 'bin.ts')],
  outfile: join(root, 'dist', 'cli.js'),
  platform: 'node',
  banner: { js: '#!/usr/bin/env node' },
});
outputs.push(cli);
chmodSync(join(root, 'dist', 'cli.js'), 0o755);
mkdirSync(join(root, 'dist'), { recursive: true });
copyFileSync(wasmPath, join(root, 'dist', 'kvpack.wasm'));
copyFileSync(relaxedPath, join(root, 'dist', 'kvpack-relaxed.wasm'));

for (const f of ['index.js', 'cli.js']) {
  const kb = (statSync(join(root, 'dist', f)).size / 1024).toFixed(0);
  console.log(`build: dist/${f} ${kb} KiB`);
}
console.log(`build: build/kvpack.wasm ${(wasm.length / 1024).toFixed(0)} KiB, build/kvpack-relaxed.wasm ${(relaxed.length / 1024).toFixed(0)} KiB inlined (base64) and copied to dist/`);
