import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliIo } from './command.js';

/**
 * `kvpack start` (what `npm start` runs): the main job on built-in defaults. First the synthetic
 * demo (needs no downloads), then, when a real model and text are present (the repository's
 * ../shared/models/stories260K and ../shared/data text, or KVPACK_MODEL / KVPACK_TEXT), perplexity
 * of that model with every codec on a short evaluation, so the quality table is real-model numbers.
 */
export const usage = `kvpack start [--skip-demo] [--skip-eval]
  Runs 'kvpack demo' with its defaults, then 'kvpack eval' (ctx 256, 8 windows, every codec)
  when a model and text are found: env KVPACK_MODEL / KVPACK_TEXT, else
  ../shared/models/stories260K and ../shared/data/tinystories-valid-sample/TinyStories-valid.txt.
  KVPACK_START_CODECS (comma-separated pairings) narrows the evaluated codecs.`;

const DEFAULT_MODEL = '../shared/models/stories260K';
const DEFAULT_TEXT = '../shared/data/tinystories-valid-sample/TinyStories-valid.txt';

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const skipDemo = argv.includes('--skip-demo');
  const skipEval = argv.includes('--skip-eval');
  const unknown = argv.filter((a) => a !== '--skip-demo' && a !== '--skip-eval');
  if (unknown.length) {
    io.err(`kvpack start: unknown argument ${unknown[0]}\n${usage}\n`);
    return 2;
  }
  if (!skipDemo) {
    io.err('kvpack start: 1/2 synthetic demo (kvpack demo)\n');
    const code = await (await import('./demo.js')).run([], io);
    if (code !== 0) return code;
  }
  if (skipEval) return 0;
  const model = resolve(io.env.KVPACK_MODEL ?? DEFAULT_MODEL);
  const text = resolve(io.env.KVPACK_TEXT ?? DEFAULT_TEXT);
  if (!existsSync(model) || !existsSync(text)) {
    io.err(`kvpack start: 2/2 skipped: no real model/text at ${model} / ${text} (set KVPACK_MODEL and KVPACK_TEXT)\n`);
    return 0;
  }
  io.err(`kvpack start: 2/2 real-model perplexity (kvpack eval) on ${model}\n`);
  const codecs = io.env.KVPACK_START_CODECS ? ['--codecs', io.env.KVPACK_START_CODECS] : [];
  return (await import('./eval.js')).run(
    ['--model', model, '--text', text, '--ctx', '256', '--windows', '8', ...codecs], io);
}
