import { readFile, writeFile } from 'node:fs/promises';
import { encodersOf } from '../backends/types.js';
import { loadSavedCaches, serializeCaches, type SavableCache } from '../serialize/index.js';
import { BACKEND_ORDER, chooseBackend } from '../backends/detect.js';
import type { BackendName } from '../backends/types.js';
import '../codecs/index.js';
import { codecInfo } from '../codecs/registry.js';
import { KvpackError } from '../errors.js';
import { CaptureCalibrator, type LayerCalibrator } from '../model/calibrate-from-capture.js';
import { parseTuneConfig, tunePairing } from '../model/tune.js';
import { readTuneConfig } from './tune.js';
import { captureKv } from '../model/capture.js';
import { pairingLayerSpec, parsePairing } from '../model/codec-pairing.js';
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
  codec: { type: 'string', default: 'fp32', help: 'cache pairing KEY[:VALUE][@wN][@sN][@gN][@rk][@rv][@fisher], e.g. kivi2@w32, cq-4c8b@rk' },
  steps: { type: 'int', default: 200, min: 1, help: 'tokens to generate (stops early at BOS/EOS or seq_len)' },
  temperature: { type: 'float', default: 0, min: 0, help: '0 = greedy' },
  seed: { type: 'int', default: 42, min: 1, help: 'sampling seed (llama2.c xorshift)' },
  backend: { type: 'string', choices: ['auto', ...BACKEND_ORDER], default: 'auto', help: 'attention backend' },
  calib: { type: 'string', help: '.kvcap for codecs that need calibration' },
  text: { type: 'string', help: 'or: a text whose calibration split (last 20% of lines) is captured now' },
  'save-cache': { type: 'string', help: 'save every layer\'s cache after the prompt to FILE (docs/FORMAT.md "Saved caches")' },
  'load-cache': { type: 'string', help: 'resume from a FILE saved with --save-cache: its prompt, codec and calibration, no prefill' },
  config: { type: 'string', help: 'the configuration `kvpack tune --out` wrote: its pairing, @rk / @rv rotation (with its seed) and calibration instead of --codec / --calib' },
} as const;

/** What --save-cache stores beside the caches (META section) so --load-cache can check and resume. */
interface GenerateMeta { kind: 'kvpack-generate'; prompt: string; tokens: number[]; codec: string; model: number[] }

function modelKey(c: { dim: number; nLayers: number; nHeads: number; nKvHeads: number; vocabSize: number; seqLen: number }): number[] {
  return [c.dim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.seqLen];
}

export const usage = `kvpack generate --model DIR [--prompt "..."] [--codec X] [--steps N] [--temperature T]

Generates text with the model's KV cache held by the codec pairing, then prints the cache memory
the codec used against fp32 for the same tokens.
${describeFlags(FLAGS)}`;

const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (!f.model) throw new KvpackError('BAD_PARAM', 'is required', '--model');
  if (f['save-cache'] && f['load-cache']) throw new KvpackError('BAD_PARAM', 'use --save-cache or --load-cache, not both', '--load-cache');
  let loaded: { bytes: Uint8Array; meta: GenerateMeta } | undefined;
  let promptText = f.prompt, codecText = f.codec;
  if (f['load-cache']) {
    const bytes = new Uint8Array(await readFile(f['load-cache']));
    const { meta } = loadSavedCaches(bytes);
    const m = meta as Partial<GenerateMeta> | undefined;
    if (m?.kind !== 'kvpack-generate' || typeof m.prompt !== 'string' || typeof m.codec !== 'string' || !Array.isArray(m.tokens) || !Array.isArray(m.model)) {
      throw new KvpackError('CORRUPT_DATA', 'not saved by kvpack generate --save-cache (no prompt in its META section)', '--load-cache');
    }
    loaded = { bytes, meta: m as GenerateMeta };
    promptText = loaded.meta.prompt;
    codecText = loaded.meta.codec;
  }
  if (f.config && (f['load-cache'] || f.calib || f.text || argv.some((a) => a === '--codec' || a.startsWith('--codec=')))) {
    throw new KvpackError('BAD_PARAM', '--config brings its own pairing and calibration: drop --codec / --calib / --text / --load-cache', '--config');
  }
  const tuned = f.config ? await readTuneConfig(f.config) : undefined;
  // a config's pairing carries its rotation seed (tunePairing)
  const pairing = tuned ? tunePairing(tuned).pairing : parsePairing(codecText);
  const { model, tokenizer } = await loadModel(f.model);
  const prompt = tokenizer.encode(promptText, { bos: true });
  if (loaded) {
    if (modelKey(model.config).join() !== loaded.meta.model.join()) throw new KvpackError('BAD_PARAM', 'the file was saved with another model', '--load-cache');
    if (prompt.join() !== loaded.meta.tokens.join()) throw new KvpackError('BAD_PARAM', 'the saved prompt tokenizes differently with this model', '--load-cache');
  }
  if (prompt.length >= model.config.seqLen) {
    throw new KvpackError('BAD_PARAM', `${prompt.length} tokens leave no room in seq_len=${model.config.seqLen}`, '--prompt');
  }
  let calibrator: LayerCalibrator | undefined;
  if (tuned) calibrator = tunePairing(parseTuneConfig(tuned, model.config)).calibrator;
  else if (!loaded && (codecInfo(pairing.key).needsCalibration || codecInfo(pairing.value).needsCalibration)) {
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
  // a restored cache packs its next tiles with the backend's encoders, as a new one would
  const encodeWith = encodersOf(backend);
  const restored = loaded ? loadSavedCaches(loaded.bytes, encodeWith ? { encodeWith } : {}).caches : undefined;
  const runner = new ModelRunner(model, {
    backend,
    ...(restored ? { caches: restored } : {}),
    cache: (l) => pairingLayerSpec(pairing, model.config, l, calibrator),
  });
  const rng = new XorShiftRng(f.seed);
  const decoder = new TextDecoder();
  const t0 = performance.now();
  // the prompt but its last token goes through the cache (or comes from the file); the last
  // token's step gives the first logits: the same steps as one prefill of the whole prompt
  if (!loaded && prompt.length > 1) await runner.prefill(0, prompt.slice(0, -1), true);
  if (loaded && runner.position(0) !== prompt.length - 1) {
    throw new KvpackError('CORRUPT_DATA', `the cache holds ${runner.position(0)} tokens, the prompt needs ${prompt.length - 1}`, '--load-cache');
  }
  if (f['save-cache']) {
    const meta: GenerateMeta = { kind: 'kvpack-generate', prompt: promptText, tokens: prompt, codec: pairing.label, model: modelKey(model.config) };
    const bytes = serializeCaches(runner.caches as SavableCache[], { meta });
    await writeFile(f['save-cache'], bytes);
    io.err(`kvpack generate: saved the cache of ${prompt.length - 1} prompt tokens x ${runner.caches.length} layers to ${f['save-cache']} (${kib(bytes.length)})\n`);
  }
  let logits = await runner.step([0], [prompt[prompt.length - 1]!]);
  const tPrompt = performance.now();
  io.out(promptText);
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
