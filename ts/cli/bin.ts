import process from 'node:process';
import { constants } from 'node:os';
import { main } from './main.js';
import { DriverWarningFilter } from './driver-warnings.js';

// Entry of dist/cli.js (Node). Deno/Bun can run the same bundle; they provide node:process.
const argv = process.argv.slice(2);
const verbose = argv.includes('--verbose') || /^(1|true|yes)$/i.test(process.env.KVPACK_VERBOSE ?? '');
const args = argv.filter((a) => a !== '--verbose');

if (!verbose && process.env.KVPACK_CLI_CHILD !== '1') {
  await runFiltered();
} else {
  const io = {
    out: (s: string) => { process.stdout.write(s); },
    err: (s: string) => { process.stderr.write(s); },
    env: process.env,
    errIsTty: process.env.KVPACK_CLI_CHILD === '1' ? process.env.KVPACK_ERR_TTY === '1' : process.stderr.isTTY === true,
  };
  main(args, io).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { process.stderr.write(`kvpack: ${String(e)}\n`); process.exitCode = 1; },
  );
}

/** Runs this command again as a child whose stderr loses the driver's warnings (driver-warnings.ts). */
async function runFiltered(): Promise<void> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, KVPACK_CLI_CHILD: '1', KVPACK_ERR_TTY: process.stderr.isTTY ? '1' : '0' },
  });
  const filter = new DriverWarningFilter((s) => { process.stderr.write(s); });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => filter.push(s));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  await new Promise<void>((resolve) => {
    child.on('error', (e) => { process.stderr.write(`kvpack: cannot start ${process.execPath}: ${e.message}\n`); process.exitCode = 1; resolve(); });
    child.on('close', (code, signal) => {
      filter.end();
      process.exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
      resolve();
    });
  });
}
