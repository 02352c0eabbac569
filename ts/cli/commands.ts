import type { CommandEntry } from './command.js';

/**
 * The CLI's subcommand table: one line per command. A command module exports
 * `run(argv, io): Promise<number>` and optionally `usage` (see ./command.ts); `load` is a
 * lazy import so a command's dependencies (model loader, GPU code) load only when it runs.
 * The string literal in import() lets esbuild bundle the module into dist/cli.js.
 */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'start', summary: 'the main job: the demo, then real-model perplexity per codec when a model is present', load: () => import('./start.js') },
  { name: 'demo', summary: 'synthetic LLaMA-shaped KV cache: every codec, bits, error, decode time', load: () => import('./demo.js') },
  { name: 'backends', summary: 'which attention backends (WebGPU, WASM SIMD, TS) run here, and why', load: () => import('./backends.js') },
  { name: 'eval', summary: 'perplexity of a real model with its KV cache held by each codec (table, JSON, SVG)', load: () => import('./eval.js') },
  { name: 'tune', summary: 'pick codec, window, sinks and rotation for a model under a quality or bits budget from a short measurement', load: () => import('./tune.js') },
  { name: 'generate', summary: 'generate text with the KV cache held by a codec; cache memory vs fp32', load: () => import('./generate.js') },
  { name: 'conformance', summary: 'check every codec on every backend here against the TS reference (words, attention)', load: () => import('./conformance.js') },
  { name: 'inspect', summary: 'describe a saved cache file: header, codecs, sequences, sizes, checksum status', load: () => import('./inspect.js') },
  { name: 'capture', summary: 'record a real model\'s per-layer queries/keys/values on calibration text (.kvcap)', load: () => import('./capture.js') },
];
