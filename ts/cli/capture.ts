import { readFile } from 'node:fs/promises';
import { BACKEND_ORDER, chooseBackend } from '../backends/detect.js';
import type { BackendName } from '../backends/types.js';
import { selfGenerateCapture } from '../calibrate/self-generate.js';
import { KvpackError } from '../errors.js';
import { captureKv } from '../model/capture.js';
import { saveKvCapture } from '../model/kv-capture-file.js';
import type { KvCapture } from '../model/kv-capture.js';
import { loadModel } from '../model/load-model.js';
import { splitText, tokenizeLines } from '../model/text-split.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';
import { ProgressBar } from './progress-bar.js';
import { checkReadable, checkWritable } from './file-checks.js';
import '../codecs/fp32/index.js';

const FLAGS = {
  model: { type: 'string', help: 'model folder (or checkpoint file), e.g. ../shared/models/stories260K' },
  text: { type: 'string', help: 'one-document-per-line text; its calibration split (last 20% of lines) is used' },
  tokens: { type: 'int', default: 2048, min: 1, help: 'tokens to capture (fewer if the split is shorter)' },
  window: { type: 'int', min: 1, help: 'tokens per window, each from position 0 (default: model seq_len)' },
  out: { type: 'string', help: 'output .kvcap file' },
  fisher: { type: 'bool', help: 'also record squared loss gradients per key/value (Fisher weights for CQ)' },
  'self-generate': { type: 'int', min: 1, help: 'instead of --text: capture N tokens of stories sampled from the model itself (data-free calibration)' },
  temperature: { type: 'float', default: 1, min: 0, help: 'sampling temperature for --self-generate' },
  seed: { type: 'int', default: 42, min: 1, help: 'sampling seed for --self-generate (llama2.c xorshift)' },
  backend: { type: 'string', choices: ['auto', ...BACKEND_ORDER], default: 'ts', help: 'attention backend of the fp32 cache (wasm is faster on long captures)' },
} as const;

export const usage = `kvpack capture --model DIR (--text FILE [--tokens N] | --self-generate N [--seed S]) [--window W] [--fisher] --out calib.kvcap

Records every layer's real queries, keys (after RoPE) and values over the calibration split of
the text (never the lines \`kvpack eval\` measures), for codec calibration; or, with
--self-generate, over stories the model samples itself (any amount, no text needed). Format: docs/QUALITY.md.
${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  const generate = f['self-generate'];
  for (const k of ['model', 'out', ...(generate === undefined ? ['text'] as const : [])] as const) {
    if (!f[k]) throw new KvpackError('BAD_PARAM', 'is required', `--${k}`);
  }
  if (generate !== undefined && f.text) throw new KvpackError('BAD_PARAM', 'give --text or --self-generate, not both', '--self-generate');
  // before loading the model and capturing for minutes
  if (f.text) await checkReadable(f.text, '--text');
  await checkWritable(f.out!, '--out');
  const { model, tokenizer, files } = await loadModel(f.model!);
  const { backend } = await chooseBackend({
    ...(f.backend !== 'auto' ? { prefer: f.backend as BackendName } : {}), env: io.env, log: (l) => io.err(`kvpack capture: ${l}\n`),
  });
  let cap: KvCapture, source: string;
  if (generate !== undefined) {
    // Sampling and capture in one batched pass over the model (windows of consecutive stories).
    const bar = new ProgressBar(io, 'self-generate', generate);
    const g = await selfGenerateCapture(model, {
      tokens: generate, temperature: f.temperature, seed: f.seed, backend, fisher: f.fisher,
      ...(f.window ? { window: f.window } : {}), onProgress: (d) => bar.update(d),
    });
    bar.done();
    cap = g.capture;
    source = `self-generated: ${g.text.stories} stories in windows of ${g.text.window}, temperature ${f.temperature}, seed ${f.seed}`;
  } else {
    const split = splitText(await readFile(f.text!, 'utf8'));
    const stream = tokenizeLines(tokenizer, split.calibration);
    const tokens = stream.slice(0, f.tokens);
    source = `of ${stream.length} in the calibration split: ${split.calibration.length} lines`;
    const bar = new ProgressBar(io, 'capture', tokens.length);
    cap = await captureKv(model, tokens, {
      ...(f.window ? { window: f.window } : {}), fisher: f.fisher, backend, onProgress: (d) => bar.update(d),
    });
    bar.done();
  }
  backend.dispose();
  await saveKvCapture(f.out!, cap);
  io.out(`captured ${cap.nTokens} tokens (${source}) x ${cap.nLayers} layers from ${files.checkpoint} -> ${f.out}\n`);
  return 0;
}
