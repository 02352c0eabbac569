import { readFile } from 'node:fs/promises';
import { KvpackError } from '../errors.js';
import { captureKv } from '../model/capture.js';
import { saveKvCapture } from '../model/kv-capture-file.js';
import { loadModel } from '../model/load-model.js';
import { splitText, tokenizeLines } from '../model/text-split.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';
import { ProgressBar } from './progress-bar.js';
import '../codecs/fp32.js';

const FLAGS = {
  model: { type: 'string', help: 'model folder (or checkpoint file), e.g. ../shared/models/stories260K' },
  text: { type: 'string', help: 'one-document-per-line text; its calibration split (last 20% of lines) is used' },
  tokens: { type: 'int', default: 2048, min: 1, help: 'tokens to capture (fewer if the split is shorter)' },
  window: { type: 'int', min: 1, help: 'tokens per window, each from position 0 (default: model seq_len)' },
  out: { type: 'string', help: 'output .kvcap file' },
  fisher: { type: 'bool', help: 'also record squared loss gradients per key/value (Fisher weights for CQ)' },
} as const;

export const usage = `kvpack capture --model DIR --text FILE [--tokens N] [--window W] [--fisher] --out calib.kvcap

Records every layer's real queries, keys (after RoPE) and values over the calibration split of
the text (never the lines \`kvpack eval\` measures), for codec calibration. Format: docs/QUALITY.md.
${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  for (const k of ['model', 'text', 'out'] as const) {
    if (!f[k]) throw new KvpackError('BAD_PARAM', 'is required', `--${k}`);
  }
  const { model, tokenizer, files } = await loadModel(f.model!);
  const split = splitText(await readFile(f.text!, 'utf8'));
  const stream = tokenizeLines(tokenizer, split.calibration);
  const tokens = stream.slice(0, f.tokens);
  const bar = new ProgressBar(io, 'capture', tokens.length);
  const cap = await captureKv(model, tokens, { ...(f.window ? { window: f.window } : {}), fisher: f.fisher, onProgress: (d) => bar.update(d) });
  bar.done();
  await saveKvCapture(f.out!, cap);
  io.out(`captured ${cap.nTokens} tokens (of ${stream.length} in the calibration split: ${split.calibration.length} lines) ` +
    `x ${cap.nLayers} layers from ${files.checkpoint} -> ${f.out}\n`);
  return 0;
}
