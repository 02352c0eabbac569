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
  KVPACK_START_CODECS (comma-separated pairings) narrows the evaluated codecs.
  Then the realistic case, when found: ../shared/models/gutenberg-bytes-9M (head_dim 64, GQA,
  4K context) on 2 windows of 1,024 tokens of frankenstein.txt, calibrated on train.txt.gz,
  with the papers' 2-bit configurations (env KVPACK_REAL_MODEL / KVPACK_REAL_TEXT /
  KVPACK_REAL_CALIB / KVPACK_REAL_CODECS override).`;

const REAL_MODEL = '../shared/models/gutenberg-bytes-9M';
const REAL_TEXT = '../shared/data/gutenberg/frankenstein.txt';
const REAL_CALIB = '../shared/data/gutenberg/train.txt.gz';
// fp32, the 4-bit baseline, KIVI-2 bare and with its paper's 128-token residual, SKVQ's paper setting
const REAL_CODECS = 'fp32,q4_0,kivi2,kivi2@w128,skvq-k2:skvq-v1.5@w128@s5@g128';

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
    io.err(`kvpack start: 2/3 skipped: no real model/text at ${model} / ${text} (set KVPACK_MODEL and KVPACK_TEXT)\n`);
    return 0;
  }
  io.err(`kvpack start: 2/3 real-model perplexity (kvpack eval) on ${model}\n`);
  const codecs = io.env.KVPACK_START_CODECS ? ['--codecs', io.env.KVPACK_START_CODECS] : [];
  const evalRun = (await import('./eval.js')).run;
  const code = await evalRun(['--model', model, '--text', text, '--ctx', '256', '--windows', '8', ...codecs], io);
  if (code !== 0) return code;
  const real = [io.env.KVPACK_REAL_MODEL ?? REAL_MODEL, io.env.KVPACK_REAL_TEXT ?? REAL_TEXT, io.env.KVPACK_REAL_CALIB ?? REAL_CALIB].map((p) => resolve(p));
  if (!real.every((p) => existsSync(p))) {
    io.err(`kvpack start: 3/3 skipped: no realistic model/text/calibration text at ${real.join(' / ')}\n`);
    return 0;
  }
  io.err(`kvpack start: 3/3 realistic model (head_dim 64, GQA) on ${real[0]}\n`);
  return evalRun(['--model', real[0]!, '--text', real[1]!, '--calib-text', real[2]!, '--calib-tokens', '2048',
    '--ctx', '1024', '--windows', '2', '--codecs', io.env.KVPACK_REAL_CODECS ?? REAL_CODECS], io);
}
