/**
 * Shared by the runtime tests (tests/runtimes/*.test.ts): where the runtimes are, a runner with
 * a time limit that names the missing package, and the result records that
 * scripts/runtime-table.mjs turns into the README's runtime x backend table.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..', '..');
export const RUNTIMES = {
  deno: { path: join(root, 'node_modules', '.bin', 'deno'), pkg: 'npm devDependency `deno` (npm ci)' },
  bun: { path: join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun'), pkg: 'npm devDependency `@oven/bun-linux-x64` (npm ci; Linux x64 only)' },
  workerd: { path: join(root, 'node_modules', '.bin', 'workerd'), pkg: 'npm devDependency `workerd` (npm ci)' },
  chromium: { path: process.env.KVPACK_CHROMIUM ?? '/usr/bin/chromium', pkg: 'Debian package `chromium` (apt-get install chromium; .ci/run does), or env KVPACK_CHROMIUM=<path>' },
} as const;
export type RuntimeName = keyof typeof RUNTIMES;

/** True in CI (env CI=true): a missing runtime is then an error, elsewhere a reported skip. */
export const inCi = /^(1|true)$/i.test(process.env.CI ?? '');

/**
 * Whether runtime `name` is present. Missing: throws in CI, else prints why (the package to
 * install) and returns false so the caller skips visibly.
 */
export function haveRuntime(name: RuntimeName): boolean {
  const r = RUNTIMES[name];
  if (existsSync(r.path)) return true;
  const msg = `${name}: ${r.path} not found; install the ${r.pkg}`;
  if (inCi) throw new Error(`${msg} (CI=true: a missing runtime is an error)`);
  console.warn(`SKIPPED ${msg}`);
  return false;
}

export interface RunResult { code: number | null; stdout: string; stderr: string; timedOut: boolean }

/** Runs a command with a time limit; a missing binary or a timeout is reported, not hung on. */
export function runLimited(cmd: string, args: string[], opts: SpawnSyncOptions & { timeoutMs: number }): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  const err = r.error as NodeJS.ErrnoException | undefined;
  if (err?.code === 'ENOENT') throw new Error(`${cmd} not found: ${err.message}`);
  const timedOut = err?.code === 'ETIMEDOUT' || (r.signal === 'SIGKILL' && r.status === null);
  return { code: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '').slice(-3000), timedOut };
}

/** Last line of stdout parsed as JSON (the smoke scripts print their result there). */
export function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}

/** One cell of the runtime x backend table. */
export interface RuntimeRecord {
  runtime: string;
  version: string;
  backend: string;
  /** pass, fail, or unavailable (with the reason). */
  status: 'pass' | 'fail' | 'unavailable';
  detail: string;
  /** How it was tested (the test file and what it checked). */
  test: string;
}

/** Writes build/runtimes/<runtime>-<backend>.json for scripts/runtime-table.mjs. */
export function recordRuntime(rec: RuntimeRecord): void {
  const dir = join(root, 'build', 'runtimes');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${rec.runtime}-${rec.backend}.json`), `${JSON.stringify(rec, null, 2)}\n`);
}

/**
 * The npm that came with this Node (node_modules/.bin holds an older npm, a transitive dev
 * dependency, which `npx`/`npm run` put first on PATH): [command, ...args prefix].
 */
export function npmCommand(): [string, string[]] {
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.js$/.test(execPath) && !execPath.includes('node_modules/.bin')) return [process.execPath, [execPath]];
  const beside = join(resolve(process.execPath, '..'), 'npm');
  return existsSync(beside) ? [beside, []] : ['npm', []];
}
