import { CONFORMANCE_SHAPES, formatConformance, runConformance } from '../conformance/matrix.js';
import { CONFORMANCE_BACKENDS, conformanceBackends } from '../conformance/backends.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';

const FLAGS = {
  backend: { type: 'list', help: `backends to check (default: all): ${CONFORMANCE_BACKENDS.map((b) => b.name).join(', ')}` },
  codecs: { type: 'list', help: 'only codec pairs whose name contains one of these' },
  shapes: { type: 'list', help: `only these shapes: ${CONFORMANCE_SHAPES.map((s) => `'${s.name}'`).join(', ')}` },
  json: { type: 'bool', help: 'print the report as JSON' },
  require: { type: 'bool', help: 'exit 1 when a requested backend cannot run here' },
} as const;

export const usage = `kvpack conformance [--backend ts,wasm,...] [--codecs kivi,q4] [--json]

Checks every registered codec on every backend here against the TS reference: tile words bit for
bit and attention within tolerance, on shapes with partial tiles and outlier channels. Exit 1 on
any failure (and, with --require, when a backend cannot run).
${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, FLAGS);
  // dist/cli.js: the threads' workers import the library bundle beside it
  const backends = conformanceBackends(flags.backend ?? [], { workerModule: new URL('./index.js', import.meta.url) });
  const shapes = flags.shapes ? CONFORMANCE_SHAPES.filter((s) => flags.shapes!.includes(s.name)) : CONFORMANCE_SHAPES;
  const report = await runConformance({
    backends, shapes, ...(flags.codecs ? { codecs: flags.codecs } : {}),
    onCell: (c) => io.err(`${c.backend} ${c.pair} ${c.shape}: ${c.status}\n`),
  });
  io.out(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatConformance(report) + '\n');
  const missing = report.backends.some((b) => !b.ran);
  return !report.pass || (flags.require && missing) ? 1 : 0;
}
