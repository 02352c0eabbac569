import '../codecs/index.js'; // registers every built-in codec
import { listCodecs } from '../codecs/registry.js';
import { BACKEND_ORDER, chooseBackend } from '../backends/detect.js';
import type { BackendName } from '../backends/types.js';
import { defaultPairings, defaultSelection, parsePairings } from '../demo/pairings.js';
import { runDemo, type DemoConfig } from '../demo/run.js';
import { formatDemo } from '../demo/table.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';

const FLAGS = {
  tokens: { type: 'int', default: 8192, min: 1, max: 1 << 20, help: 'context length (cached tokens); 4096..32768 are typical' },
  heads: { type: 'int', default: 32, min: 1, max: 256, help: 'query heads' },
  'kv-heads': { type: 'int', help: 'KV heads (GQA when fewer than --heads; default = --heads)' },
  'head-dim': { type: 'int', default: 128, min: 8, max: 256, help: 'channels per head (multiple of 8)' },
  window: { type: 'int', default: 32, min: 0, help: 'recent tokens kept in fp32 by every cache' },
  sinks: { type: 'int', default: 0, min: 0, help: 'first tokens kept in fp32 by every cache' },
  steps: { type: 'int', default: 4, min: 1, max: 1000, help: 'decode steps per codec (first one warms up)' },
  codecs: { type: 'list', help: "pairings to run: codec or keyCodec/valueCodec, comma-separated, or 'all' (default: every codec, headline configurations of slow families)" },
  backend: { type: 'string', choices: BACKEND_ORDER, help: 'attention backend (default: best available; env KVPACK_BACKEND)' },
  'calib-tokens': { type: 'int', default: 512, min: 32, max: 1 << 16, help: 'tokens of another sequence to calibrate SKVQ/CQ/QAQ on' },
  'max-pack-seconds': { type: 'float', default: 180, min: 0, help: 'skip a codec whose TS packing is estimated to take longer (0: never skip)' },
  seed: { type: 'int', default: 1, min: 0, help: 'workload seed' },
  json: { type: 'string', help: 'also write the results as JSON to this path' },
} as const;

export const usage = `kvpack demo [flags]

A synthetic LLaMA-shaped KV cache (keys with outlier channels), no downloads. For every registered
codec: effective bits/element, compression vs fp16/fp32, attention-output error vs dense fp32 and
the time of one decode step on the chosen backend. Progress goes to stderr.

${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  const config: DemoConfig = {
    tokens: f.tokens, nHeads: f.heads, nKvHeads: f['kv-heads'] ?? f.heads, headDim: f['head-dim'],
    window: f.window, sinks: f.sinks, steps: f.steps, seed: f.seed,
    calibrationTokens: f['calib-tokens'], maxPackSeconds: f['max-pack-seconds'],
  };
  const all = f.codecs?.length === 1 && f.codecs[0] === 'all';
  const selection = f.codecs && !all ? { pairings: parsePairings(f.codecs), leftOut: [] }
    : all ? { pairings: defaultPairings(listCodecs()), leftOut: [] } : defaultSelection(listCodecs());
  const t0 = performance.now();
  // Elapsed time on every line: a user (and the CI log) sees which step is slow.
  const progress = (l: string) => io.err(`kvpack demo [${((performance.now() - t0) / 1000).toFixed(1)}s]: ${l}\n`);
  const prefer = f.backend as BackendName | undefined;
  const { backend, report } = await chooseBackend({ ...(prefer ? { prefer } : {}), env: io.env, log: progress });
  try {
    const result = await runDemo(config, selection.pairings, backend, { progress });
    io.out(formatDemo(result) + '\n');
    if (selection.leftOut.length) {
      io.out(`not in the default set (slow TS encoders): ${selection.leftOut.join(', ')}; run them with --codecs all or --codecs <name>\n`);
    }
    if (f.json) {
      const { writeFile } = await import('node:fs/promises');
      const doc = { tool: 'kvpack demo', date: new Date().toISOString(), machine: await machineInfo(), backendReport: report, ...result };
      await writeFile(f.json, JSON.stringify(doc, null, 2) + '\n');
      progress(`wrote ${f.json}`);
    }
  } finally {
    backend.dispose();
  }
  return 0;
}

async function machineInfo(): Promise<Record<string, unknown>> {
  const os = await import('node:os');
  const proc = (globalThis as { process?: { version?: string } }).process;
  return { platform: os.platform(), arch: os.arch(), cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, runtime: proc?.version ?? 'unknown' };
}
