import { KvpackError } from '../errors.js';
import { fsReason } from './file-checks.js';
import type { CliIo } from './command.js';
import { COMMANDS } from './commands.js';

export function generalUsage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'kvpack: packed LLM KV caches with attention on WebGPU, WASM SIMD or plain TS',
    '',
    'usage: kvpack <command> [flags]      kvpack <command> --help',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    'env: KVPACK_BACKEND=webgpu|wasm|ts forces an attention backend',
    '--verbose (or env KVPACK_VERBOSE=1): also show the GPU driver\'s own warnings (Dawn adapter messages)',
  ].join('\n');
}

/**
 * Dispatches `kvpack <command> ...`. Returns the exit code instead of exiting so tests can run
 * it in-process. Exit codes: 0 ok, 1 runtime failure, 2 bad usage (unknown command or flag).
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(generalUsage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.err(`kvpack: unknown command '${name}'\n\n${generalUsage()}\n`);
    return 2;
  }
  try {
    const mod = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(`kvpack ${entry.name}: ${entry.summary}\n${mod.usage ? '\n' + mod.usage + '\n' : ''}`);
      return 0;
    }
    return await mod.run(rest, io);
  } catch (e) {
    if (e instanceof KvpackError) {
      io.err(`kvpack ${name}: error ${e.code}: ${e.message}\n`);
      return e.code === 'BAD_PARAM' && e.arg?.startsWith('--') ? 2 : 1;
    }
    const code = (e as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && (e as { path?: unknown }).path !== undefined) {
      // a file system error (ENOENT, EACCES...): one line naming the file, not a stack trace
      io.err(`kvpack ${name}: ${(e as { syscall?: string }).syscall ?? 'file'} ${String((e as { path: unknown }).path)}: ${fsReason(e)}\n`);
      return 1;
    }
    io.err(`kvpack ${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
