import { readFile } from 'node:fs/promises';
import { KvpackError } from '../errors.js';
import '../codecs/index.js';
import { formatInspection, inspectSavedCache } from '../serialize/inspect.js';
import { describeFlags, parseFlags } from './args.js';
import type { CliIo } from './command.js';

const FLAGS = {
  json: { type: 'bool', help: 'print the description as JSON' },
} as const;

export const usage = `kvpack inspect FILE [--json]

Reads a saved cache (kvpack generate --save-cache, cache.serialize(); docs/FORMAT.md "Saved
caches") in full, checking every section's CRC-32C and bound, and prints its header, codecs,
sequences, section sizes and checksum status. Exit code 1 when the file is corrupt or of an
unsupported version (what was read before the fault is still shown).
${describeFlags(FLAGS)}`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  const positional = f.positional as string[];
  if (positional.length !== 1) throw new KvpackError('BAD_PARAM', 'takes exactly one FILE', 'inspect');
  const file = positional[0]!;
  const info = inspectSavedCache(new Uint8Array(await readFile(file)));
  if (f.json) {
    io.out(JSON.stringify(info, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v), 1) + '\n');
  } else {
    io.out(formatInspection(info, file) + '\n');
  }
  return info.status === 'ok' ? 0 : 1;
}
