import type { CliIo } from '../../ts/cli/command.js';

/** A CliIo that records stdout and stderr, with the given environment, for CLI tests. */
export function captureIo(env: Record<string, string | undefined> = {}): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '', stderr: '', env,
    out(s: string) { io.stdout += s; },
    err(s: string) { io.stderr += s; },
  };
  return io;
}
