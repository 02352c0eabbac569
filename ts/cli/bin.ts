import process from 'node:process';
import { main } from './main.js';

// Entry of dist/cli.js (Node). Deno/Bun can run the same bundle; they provide node:process.
const io = {
  out: (s: string) => { process.stdout.write(s); },
  err: (s: string) => { process.stderr.write(s); },
  env: process.env,
  errIsTty: process.stderr.isTTY === true,
};
main(process.argv.slice(2), io).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`kvpack: ${String(e)}\n`); process.exitCode = 1; },
);
