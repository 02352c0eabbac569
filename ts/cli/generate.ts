import { readFile } from 'node:fs/promises';
import { BACKEND_ORDER, chooseBackend } from '../backends/detect.js';
import type { BackendName } from '../backends/types.js';
import '../codecs/index.js';
import { codecInfo } from '../codecs/registry.js';
import { KvpackError } from '../errors.js';
import { CaptureCalibrator } from '../model/calibrate-from-capture.js';
import { captureKv } from '../model/capture.js';
import { parsePairing } from '../model/codec-pairing.js';
import { ModelRunner } from '../model/forward.js';
import { loadKvCapture } from '../model/kv-capture-file.js';
import { loadModel } from '../model/load-model.js';
import { sampleToken, XorShiftRng } from '../model/sampler.js';
import { splitText, tokenizeLines } from '../model/text-split.js';
import { BOS, EOS } from '../model/tokenizer.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';

const FLAGS = {
  model: { type: 'string', help: 'model folder or checkpoint file' },
  prompt: { type: 'string', default: 'Once upon a time', help: 'prompt text' },
  codec: { type: 'string', default: 'fp32', help: 'cache pairing KEY[:VALUE][@wN][@sN], e.g. kivi2@w32' },
  steps: { type: 'int', default: 200, min: 1, help: 'tokens to generate (stops early at BOS/EOS or seq_len)' },
  temperature: { type: 'float', default: 0, min: 0, help: '0 = greedy' },
  seed: { type: 'int', default: 42, min: 1, help: 'sampling seed (llama2.c xorshift)' },
  backend: { type: 'string', choices: ['auto', ...BACKEND_ORDER], default: 'auto', help: 'attention backend' },
  calib: { type: 'string', help: '.kvcap for codecs that need calibration' },
  text: { type: 'string', help: 'or: a text whose calibration split (last 20% of lines) is captured now' },
} as const;

export const usage = `kvpack generate --model DIR [--prompt "..."] [--codec X] [--steps N] [--temperature T]

Generates text with the model's KV cache held by the codec pairing, then prints the cache memory
the codec used against fp32 for the same tokens.
${describeFlags(FLAGS)}`;

const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (!f.model) throw new KvpackError('BAD_PARAM', 'is required', '--model');
  const pairing = parsePairing(f.codec);
  const { model, tokenizer } = await loadModel(f.model);
  const prompt = tokenizer.encode(f.prompt, { bos: true });
  if (prompt.length >= model.config.seqLen) {
    throw new KvpackError('BAD_PARAM', `${prompt.length} tokens leave no room in seq_len=${model.config.seqLen}`, '--prompt');
  }
  let calibrator: CaptureCalibrator | undefined;
  if (codecInfo(pairing.key).needsCalibration || codecInfo(pairing.value).needsCalibration) {
    if (f.calib) calibrator = new CaptureCalibrator(await loadKvCapture(f.calib), model.config);
    else if (f.text) {
      const cal = tokenizeLines(tokenizer, splitText(await readFile(f.text, 'utf8')).calibration).slice(0, 2048);
      io.err(`kvpack generate: capturing ${cal.length} calibration tokens\n`);
      calibrator = new CaptureCalibrator(await captureKv(model, cal, { fisher: pairing.fisher ?? false }), model.config);
    } else {
      throw new KvpackError('BAD_CALIBRATION', `codec pairing '${pairing.label}' needs calibration: pass --calib FILE.kvcap or --text FILE`, '--calib');
    }
  }
  const { backend, report } = await chooseBackend({
    ...(f.backend !== 'auto' ? { prefer: f.backend as BackendName } : {}), env: io.env, log: (l) => io.err(`kvpack generate: ${l}\n`),
  });
  const runner = new ModelRunner(model, {
    backend,
    cache: (l) => ({
      key: pairing.key, value: pairing.value, sinks: pairing.sinks,
      ...(pairing.window !== undefined ? { window: pairing.window } : {}),
      calibration: {
        key: calibrator?.forLayer(pairing.key, 'key', l, pairing.fisher),
        value: calibrator?.forLayer(pairing.value, 'value', l, pairing.fisher),
      },
    }),
  });
  const rng = new XorShiftRng(f.seed);
  const decoder = new TextDecoder();
  const t0 = performance.now();
  let logits = await runner.prefill(0, prompt, true);
  const tPrompt = performance.now();
  io.out(f.prompt);
  let prev = prompt[prompt.length - 1]!, generated = 0;
  while (generated < f.steps && runner.position(0) < model.config.seqLen) {
    const next = sampleToken(logits, f.temperature, rng);
    if (next === BOS || next === EOS) break;
    io.out(decoder.decode(tokenizer.pieceBytes(prev, next), { stream: true }));
    generated++;
    prev = next;
    if (runner.position(0) === model.config.seqLen) break;
    logits = await runner.step([0], [next]);
  }
  io.out(decoder.decode() + '\n');
  const t1 = performance.now();
  backend.dispose();
  const s = runner.stats();
  const held = (s.effectiveBitsStored * s.elements) / 8; // packed tiles + params + fp32 regions, as held on the host
  io.out(`\ncache (${pairing.label}, ${report.chosen} attention): ${s.tokens} tokens x ${model.config.nLayers} layers, ` +
    `${kib(held)} held (packed ${kib(s.packedBytes)}, fp32 window/sinks ${kib(held - s.packedBytes - s.paramBytes)}, ` +
    `params ${kib(s.paramBytes)}) vs fp32 ${kib(s.fp32Bytes)}: ${(s.fp32Bytes / held).toFixed(2)}x smaller; ` +
    `${s.effectiveBits.toFixed(2)} effective bits/element with fp regions counted at fp16\n`);
  io.err(`kvpack generate: prompt ${prompt.length} tokens in ${(tPrompt - t0).toFixed(0)} ms, ` +
    `${generated} tokens at ${(generated / ((t1 - tPrompt) / 1000)).toFixed(0)} tok/s\n`);
  return 0;
}
