import { check, KvpackError } from '../errors.js';
import { envChoice, processEnv } from '../util/env.js';
import { TsBackend } from './ts-backend.js';
import type { AttentionBackend, BackendName } from './types.js';
import { checkOptionalBool, checkOptionalFn, checkOptionalNumber, checkOptionalObject, typeName } from '../util/args.js';
import { FailoverBackend } from './failover.js';

/** Preference order when nothing is requested: fastest first. */
export const BACKEND_ORDER: readonly BackendName[] = ['webgpu', 'wasm', 'ts'];

/** What a successful probe returns: a ready backend plus facts for the report (adapter, limits...). */
export interface ProbeResult {
  backend: AttentionBackend;
  details?: Record<string, unknown>;
}

/** Creates one backend or throws (any error) saying why it cannot run here. */
export type BackendProbe = () => Promise<ProbeResult>;

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  /** Why it failed, or what it is when it worked. */
  reason: string;
  details?: Record<string, unknown>;
  ms: number;
}

export interface BackendReport {
  chosen: BackendName;
  description: string;
  /** Why this backend: the request (option / env) or the fallback chain. */
  why: string;
  requested?: { name: BackendName; source: 'option' | 'env KVPACK_BACKEND' };
  /** Every backend tried, in order; failures carry the reason. */
  attempts: BackendAttempt[];
}

export interface ChooseOptions {
  /** Use this backend or throw BACKEND_UNAVAILABLE; wins over env KVPACK_BACKEND. */
  prefer?: BackendName;
  /** Receives one line per decision and fallback (default: no logging). */
  log?: (line: string) => void;
  /** Environment to read KVPACK_BACKEND from (default: process.env where it exists). */
  env?: Record<string, string | undefined>;
  /** Also probe the backends after the chosen one, for a complete report (`kvpack backends`). */
  probeAll?: boolean;
  /** Replace probes (tests, or an app that builds its own WebGPU device). */
  probes?: Partial<Record<BackendName, BackendProbe>>;
  /**
   * Choose a WebGPU adapter that is a software rasterizer (Mesa llvmpipe/lavapipe, SwiftShader,
   * WARP) even when WASM SIMD works. Default false: such adapters are much slower than WASM SIMD.
   */
  allowSoftwareGpu?: boolean;
  /** A probe taking longer than this fails (an adapter request that never settles). Default 20 s. */
  probeTimeoutMs?: number;
  /**
   * When WebGPU is chosen, return a FailoverBackend (ts/backends/failover.ts): on DEVICE_LOST it
   * starts the next backend (WASM, else TS) and answers from the host cache. Default false.
   */
  failover?: boolean;
}

export interface ChosenBackend {
  backend: AttentionBackend;
  report: BackendReport;
}

/**
 * Picks the attention backend: WebGPU > WASM SIMD > TS. A backend that is missing or fails to
 * start is logged and skipped, never fatal, since TS always works. An explicit request (option
 * `prefer`, else env KVPACK_BACKEND) is honoured strictly: if it cannot run, BACKEND_UNAVAILABLE
 * with the reason, because silently benchmarking another backend would mislead.
 */
export async function chooseBackend(opts: ChooseOptions = {}): Promise<ChosenBackend> {
  checkOptionalObject(opts, 'opts');
  checkOptionalFn(opts.log, 'log');
  checkOptionalObject(opts.env, 'env');
  checkOptionalObject(opts.probes, 'probes');
  for (const [name, p] of Object.entries(opts.probes ?? {})) checkOptionalFn(p, `probes.${name}`);
  for (const f of ['probeAll', 'allowSoftwareGpu', 'failover'] as const) checkOptionalBool(opts[f], f);
  checkOptionalNumber(opts.probeTimeoutMs, 'probeTimeoutMs');
  check(opts.probeTimeoutMs === undefined || opts.probeTimeoutMs > 0, 'BAD_PARAM', `must be a positive number of milliseconds, got ${opts.probeTimeoutMs}`, 'probeTimeoutMs');
  check(opts.prefer === undefined || typeof opts.prefer === 'string', 'BAD_PARAM', `must be a backend name, got ${typeName(opts.prefer)}`, 'prefer');
  const log = opts.log ?? (() => {});
  const requested = resolveRequest(opts);
  const probes = { ...defaultProbes, ...opts.probes };
  const timeoutMs = opts.probeTimeoutMs ?? 20_000;
  const attempts: BackendAttempt[] = [];
  const order = requested ? [requested.name] : BACKEND_ORDER;

  let chosen: ProbeResult | undefined;
  // A WebGPU adapter that is a CPU rasterizer (llvmpipe...) kept aside while WASM SIMD is tried.
  let softwareGpu: ProbeResult | undefined;
  let demoted: string | undefined;
  let kept: string | undefined;
  for (const name of order) {
    const { attempt, result } = await runProbe(name, probes[name], timeoutMs);
    attempts.push(attempt);
    if (result && !requested && name === 'webgpu' && !opts.allowSoftwareGpu && isSoftwareAdapter(result.backend.description)) {
      // On the CPU, WASM SIMD runs decode attention far faster than WGSL through a software
      // rasterizer (kvpack demo, 8K tokens x 32 heads x 128 on 2 cores: ~60 ms vs ~2 s a step).
      softwareGpu = result;
      demoted = 'the WebGPU adapter is a software (CPU) rasterizer, slower than WASM SIMD';
      log(`kvpack: backend webgpu is a software adapter (${result.backend.description}); trying wasm first`);
      continue;
    }
    if (result) { chosen = result; break; }
    if (requested) {
      throw new KvpackError('BACKEND_UNAVAILABLE',
        `backend '${name}' was requested (${requested.source}) but cannot run here: ${attempt.reason}`,
        requested.source === 'option' ? 'prefer' : 'KVPACK_BACKEND');
    }
    log(`kvpack: backend ${name} unavailable (${attempt.reason}); falling back`);
  }
  if (softwareGpu) {
    if (chosen && chosen.backend.name !== 'ts') softwareGpu.backend.dispose();
    else {
      // WASM failed too: the software GPU still beats the TS reference.
      chosen?.backend.dispose();
      chosen = softwareGpu;
      demoted = undefined;
      kept = 'the WebGPU adapter is a software rasterizer, kept because WASM SIMD is unavailable';
    }
  }
  if (!chosen) {
    // Only reachable when a custom 'ts' probe fails: the built-in TS backend cannot.
    throw new KvpackError('BACKEND_UNAVAILABLE',
      `no backend could start: ${attempts.map((a) => `${a.name}: ${a.reason}`).join('; ')}`);
  }
  if (opts.probeAll) {
    for (const name of BACKEND_ORDER) {
      if (attempts.some((a) => a.name === name)) continue;
      const { attempt, result } = await runProbe(name, probes[name], timeoutMs);
      attempts.push(attempt);
      result?.backend.dispose();
    }
  }
  const why = requested
    ? `requested by ${requested.source}`
    : kept ?? (demoted
      ? `${demoted} (order ${BACKEND_ORDER.join(' > ')}; KVPACK_BACKEND=webgpu or allowSoftwareGpu to use it)`
      : attempts[0]!.name === chosen.backend.name
        ? `first available in order ${BACKEND_ORDER.join(' > ')}`
        : `fallback in order ${BACKEND_ORDER.join(' > ')}`);
  log(`kvpack: using backend ${chosen.backend.name} (${chosen.backend.description}): ${why}`);
  let backend = chosen.backend;
  if (opts.failover && backend.name === 'webgpu') {
    const fallback = async (): Promise<AttentionBackend> => {
      for (const name of BACKEND_ORDER.filter((n) => n !== 'webgpu')) {
        const { result } = await runProbe(name, probes[name], timeoutMs);
        if (result) return result.backend;
      }
      throw new KvpackError('BACKEND_UNAVAILABLE', 'the GPU was lost and no other backend could start');
    };
    backend = new FailoverBackend(backend, fallback, log);
  }
  return {
    backend,
    report: {
      chosen: chosen.backend.name,
      description: chosen.backend.description,
      why,
      ...(requested ? { requested } : {}),
      attempts,
    },
  };
}

function resolveRequest(opts: ChooseOptions): BackendReport['requested'] {
  if (opts.prefer !== undefined) {
    if (!BACKEND_ORDER.includes(opts.prefer)) {
      throw new KvpackError('BAD_PARAM', `must be one of ${BACKEND_ORDER.join(', ')}, got '${String(opts.prefer)}'`, 'prefer');
    }
    return { name: opts.prefer, source: 'option' };
  }
  const name = envChoice(opts.env ?? processEnv(), 'KVPACK_BACKEND', BACKEND_ORDER);
  return name && { name, source: 'env KVPACK_BACKEND' };
}

async function runProbe(name: BackendName, probe: BackendProbe | undefined, timeoutMs: number):
  Promise<{ attempt: BackendAttempt; result?: ProbeResult }> {
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  if (!probe) return { attempt: { name, ok: false, reason: 'no probe for this backend', ms: 0 } };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { timedOut = true; reject(new Error(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
    });
    const pending = probe();
    // A probe that answers after its timeout must not leak a device or WASM instance.
    pending.then((late) => { if (timedOut) late.backend.dispose(); }, () => {});
    const result = await Promise.race([pending, timeout]);
    const attempt: BackendAttempt = { name, ok: true, reason: result.backend.description, ms: ms() };
    if (result.details) attempt.details = result.details;
    return { attempt, result };
  } catch (e) {
    const attempt: BackendAttempt = { name, ok: false, reason: describeError(e), ms: ms() };
    const details = (e as { details?: Record<string, unknown> } | undefined)?.details;
    if (details) attempt.details = details;
    return { attempt };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function describeError(e: unknown): string {
  if (e instanceof KvpackError) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.name;
  return String(e);
}

const defaultProbes: Record<BackendName, BackendProbe> = {
  webgpu: probeWebGpu,
  wasm: probeWasm,
  ts: async () => ({ backend: new TsBackend() }),
};

// The WebGPU and WASM modules are loaded on demand: a TS-only user never pays for them, and a
// module that fails to load (no native addon, old runtime) becomes a reported reason.
async function probeWebGpu(): Promise<ProbeResult> {
  const { createWebGpuBackend, subgroupSize } = await import('./webgpu/index.js');
  const backend = await createWebGpuBackend();
  const gpu = backend.gpu;
  // which folded attention driver (KIVI, SKVQ, q8_0/q4_0) this adapter gets (shaders.ts chooseAttendKernel)
  const sg = await subgroupSize(gpu.device);
  return {
    backend,
    details: { adapter: gpu.description, software: isSoftwareAdapter(gpu.description), features: [...gpu.features].sort(),
      subgroupSize: sg ?? 'none', foldKernel: sg === 32 ? 'fold-sg (subgroups)' : 'fold (workgroup memory)', limits: { ...gpu.limits } },
  };
}

async function probeWasm(): Promise<ProbeResult> {
  const mod = await import('./wasm.js');
  if (!mod.wasmSimdSupported()) {
    throw new KvpackError('BACKEND_UNAVAILABLE', 'this runtime does not support WebAssembly SIMD (kvpack.wasm needs it)');
  }
  const backend = await mod.createWasmBackend();
  return { backend, details: { simd: true, memoryKiB: (backend.wasm.memory.buffer.byteLength / 1024) | 0 } };
}

/** Adapter names of CPU implementations of WebGPU (from the adapter info Dawn / wgpu report). */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

export function isSoftwareAdapter(description: string): boolean {
  return SOFTWARE_ADAPTER.test(description);
}

/** Plain-text report for `kvpack backends` and logs. */
export function formatBackendReport(report: BackendReport): string {
  const lines = [`chosen: ${report.chosen} (${report.description})`, `why: ${report.why}`, ''];
  for (const a of report.attempts) {
    lines.push(`${a.ok ? 'ok  ' : 'FAIL'} ${a.name.padEnd(7)} ${a.reason}  [${a.ms} ms]`);
    for (const [k, v] of Object.entries(a.details ?? {})) {
      lines.push(`       ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    }
  }
  const probed = new Set(report.attempts.map((a) => a.name));
  for (const name of BACKEND_ORDER) if (!probed.has(name)) lines.push(`-    ${name.padEnd(7)} not probed (an earlier backend was chosen)`);
  return lines.join('\n');
}
