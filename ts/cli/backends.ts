import { BACKEND_ORDER, chooseBackend, formatBackendReport } from '../backends/detect.js';
import type { BackendName } from '../backends/types.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';

const FLAGS = {
  backend: { type: 'string', choices: BACKEND_ORDER, help: 'require this backend (else exit 1 with the reason)' },
  json: { type: 'bool', help: 'print the report as JSON' },
} as const;

export const usage = `kvpack backends [--backend webgpu|wasm|ts] [--json]\n\nProbes every backend and prints what was chosen and why.\n${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, FLAGS);
  const prefer = flags.backend as BackendName | undefined;
  const { backend, report } = await chooseBackend({ ...(prefer ? { prefer } : {}), env: io.env, probeAll: true, log: (l) => io.err(l + '\n') });
  backend.dispose();
  io.out(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatBackendReport(report) + '\n');
  return 0;
}
