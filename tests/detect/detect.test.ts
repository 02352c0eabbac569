import { describe, expect, it } from 'vitest';
import { chooseBackend, formatBackendReport, isSoftwareAdapter, type BackendProbe } from '../../ts/backends/detect.js';
import { TsBackend } from '../../ts/backends/ts-backend.js';
import type { AttentionBackend, BackendName } from '../../ts/backends/types.js';
import { KvpackError } from '../../ts/errors.js';

/** A fake backend that records dispose(), for probe-order tests. */
function fakeBackend(name: BackendName, disposed: BackendName[], description = `fake ${name}`): AttentionBackend {
  return {
    name, description,
    attend: async () => new Float32Array(0),
    dispose: () => { disposed.push(name); },
  };
}

function probesFrom(spec: Partial<Record<BackendName, 'ok' | 'fail' | 'hang'>>, calls: BackendName[], disposed: BackendName[]) {
  const out: Partial<Record<BackendName, BackendProbe>> = {};
  for (const [name, how] of Object.entries(spec) as [BackendName, 'ok' | 'fail' | 'hang'][]) {
    out[name] = async () => {
      calls.push(name);
      if (how === 'fail') throw new Error(`${name} broke on purpose`);
      if (how === 'hang') return new Promise<never>(() => {});
      return { backend: fakeBackend(name, disposed), details: { adapter: `${name}-adapter` } };
    };
  }
  return out;
}

async function expectKvpackError(p: Promise<unknown>, code: string, arg: string): Promise<KvpackError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(KvpackError);
  expect((e as KvpackError).code).toBe(code);
  expect((e as KvpackError).arg).toBe(arg);
  return e as KvpackError;
}

describe('chooseBackend order and fallback (injected probes)', () => {
  it('prefers webgpu when it works and does not probe the rest', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({ env: {}, probes: probesFrom({ webgpu: 'ok', wasm: 'ok', ts: 'ok' }, calls, disposed) });
    expect(backend.name).toBe('webgpu');
    expect(calls).toEqual(['webgpu']);
    expect(report.chosen).toBe('webgpu');
    expect(report.why).toMatch(/first available/);
    expect(report.attempts[0]!.details).toEqual({ adapter: 'webgpu-adapter' });
    expect(formatBackendReport(report)).toMatch(/not probed/);
  });

  it('falls back webgpu -> wasm -> ts with a logged reason per failure', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [], log: string[] = [];
    const { backend, report } = await chooseBackend({
      env: {}, log: (l) => log.push(l), probes: probesFrom({ webgpu: 'fail', wasm: 'fail', ts: 'ok' }, calls, disposed),
    });
    expect(backend.name).toBe('ts');
    expect(calls).toEqual(['webgpu', 'wasm', 'ts']);
    expect(report.attempts.map((a) => [a.name, a.ok])).toEqual([['webgpu', false], ['wasm', false], ['ts', true]]);
    expect(report.attempts[0]!.reason).toBe('webgpu broke on purpose');
    expect(report.why).toMatch(/fallback/);
    expect(log.filter((l) => l.includes('unavailable'))).toHaveLength(2);
    expect(log.at(-1)).toMatch(/using backend ts/);
  });

  it('a probe that never answers times out and falls back instead of hanging', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({
      env: {}, probeTimeoutMs: 50, probes: probesFrom({ webgpu: 'hang', wasm: 'ok' }, calls, disposed),
    });
    expect(backend.name).toBe('wasm');
    expect(report.attempts[0]!.reason).toMatch(/no answer within 50 ms/);
  });

  it('a probe answering after its timeout has its backend disposed', async () => {
    const disposed: BackendName[] = [];
    const slow: BackendProbe = () => new Promise((resolve) => setTimeout(() => resolve({ backend: fakeBackend('webgpu', disposed) }), 80));
    const { backend } = await chooseBackend({ env: {}, probeTimeoutMs: 20, probes: { webgpu: slow, ...probesFrom({ wasm: 'ok' }, [], disposed) } });
    expect(backend.name).toBe('wasm');
    await new Promise((r) => setTimeout(r, 120));
    expect(disposed).toEqual(['webgpu']);
    backend.dispose();
  });

  it('probeAll reports every backend and disposes the ones not chosen', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({
      env: {}, probeAll: true, probes: probesFrom({ webgpu: 'fail', wasm: 'ok', ts: 'ok' }, calls, disposed),
    });
    expect(backend.name).toBe('wasm');
    expect(report.attempts.map((a) => a.name)).toEqual(['webgpu', 'wasm', 'ts']);
    expect(disposed).toEqual(['ts']);
  });
});

describe('software WebGPU adapters', () => {
  const LLVMPIPE = 'WebGPU: OpenGL version 4.5 (Core Profile) Mesa 22.3.6 / llvmpipe-llvm-15-0-6-256-bits- [Dawn opengl, compatibility]';
  const softGpu = (disposed: BackendName[]): BackendProbe => async () => ({ backend: fakeBackend('webgpu', disposed, LLVMPIPE) });

  it('recognizes CPU rasterizers by adapter name', () => {
    expect(isSoftwareAdapter(LLVMPIPE)).toBe(true);
    expect(isSoftwareAdapter('WebGPU: Vulkan / llvmpipe (LLVM 15.0.6, 256 bits) [navigator.gpu]')).toBe(true);
    expect(isSoftwareAdapter('WebGPU: lavapipe')).toBe(true);
    expect(isSoftwareAdapter('WebGPU: Google SwiftShader')).toBe(true);
    expect(isSoftwareAdapter('WebGPU: NVIDIA H100 80GB HBM3 / nvidia / hopper [Dawn default backend]')).toBe(false);
    expect(isSoftwareAdapter('WebGPU: Apple M2 / apple / metal-3')).toBe(false);
  });

  it('prefers WASM SIMD over a software adapter and disposes the adapter', async () => {
    const disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({ env: {}, probes: { webgpu: softGpu(disposed), ...probesFrom({ wasm: 'ok' }, [], disposed) } });
    expect(backend.name).toBe('wasm');
    expect(disposed).toEqual(['webgpu']);
    expect(report.why).toMatch(/software \(CPU\) rasterizer/);
    expect(report.attempts.map((a) => [a.name, a.ok])).toEqual([['webgpu', true], ['wasm', true]]);
  });

  it('keeps the software adapter when WASM fails (it beats the TS reference)', async () => {
    const disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({ env: {}, probes: { webgpu: softGpu(disposed), ...probesFrom({ wasm: 'fail', ts: 'ok' }, [], disposed) } });
    expect(backend.name).toBe('webgpu');
    expect(disposed).toEqual(['ts']);
    expect(report.why).toMatch(/kept because WASM SIMD is unavailable/);
  });

  it('uses the software adapter when asked: allowSoftwareGpu or an explicit request', async () => {
    for (const opts of [{ allowSoftwareGpu: true, env: {} }, { env: { KVPACK_BACKEND: 'webgpu' } }, { prefer: 'webgpu' as const, env: {} }]) {
      const disposed: BackendName[] = [];
      const { backend } = await chooseBackend({ ...opts, probes: { webgpu: softGpu(disposed), ...probesFrom({ wasm: 'ok' }, [], disposed) } });
      expect(backend.name).toBe('webgpu');
      expect(disposed).toEqual([]);
    }
  });
});

describe('explicit requests', () => {
  it('env KVPACK_BACKEND picks a backend and skips the others', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({ env: { KVPACK_BACKEND: ' TS ' }, probes: probesFrom({ webgpu: 'ok', ts: 'ok' }, calls, disposed) });
    expect(backend.name).toBe('ts');
    expect(calls).toEqual(['ts']);
    expect(report.requested).toEqual({ name: 'ts', source: 'env KVPACK_BACKEND' });
  });

  it('KVPACK_BACKEND=auto or empty means no request', async () => {
    for (const v of ['auto', '']) {
      const calls: BackendName[] = [], disposed: BackendName[] = [];
      const { backend } = await chooseBackend({ env: { KVPACK_BACKEND: v }, probes: probesFrom({ webgpu: 'ok' }, calls, disposed) });
      expect(backend.name).toBe('webgpu');
    }
  });

  it('the option wins over the env', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [];
    const { backend, report } = await chooseBackend({ prefer: 'wasm', env: { KVPACK_BACKEND: 'ts' }, probes: probesFrom({ wasm: 'ok', ts: 'ok' }, calls, disposed) });
    expect(backend.name).toBe('wasm');
    expect(report.requested?.source).toBe('option');
  });

  it('a requested backend that cannot run is BACKEND_UNAVAILABLE with the reason, no fallback', async () => {
    const calls: BackendName[] = [], disposed: BackendName[] = [];
    const e = await expectKvpackError(
      chooseBackend({ prefer: 'webgpu', env: {}, probes: probesFrom({ webgpu: 'fail', ts: 'ok' }, calls, disposed) }),
      'BACKEND_UNAVAILABLE', 'prefer');
    expect(e.message).toMatch(/webgpu broke on purpose/);
    expect(calls).toEqual(['webgpu']);
    await expectKvpackError(
      chooseBackend({ env: { KVPACK_BACKEND: 'wasm' }, probes: probesFrom({ wasm: 'fail' }, calls, disposed) }),
      'BACKEND_UNAVAILABLE', 'KVPACK_BACKEND');
  });

  it('rejects unknown backend names with BAD_PARAM naming the source', async () => {
    await expectKvpackError(chooseBackend({ env: { KVPACK_BACKEND: 'cuda' } }), 'BAD_PARAM', 'KVPACK_BACKEND');
    await expectKvpackError(chooseBackend({ prefer: 'cuda' as BackendName, env: {} }), 'BAD_PARAM', 'prefer');
  });
});

describe('built-in probes on this machine', () => {
  it('prefer ts always works and is the TS reference backend', async () => {
    const { backend, report } = await chooseBackend({ prefer: 'ts', env: {} });
    expect(backend).toBeInstanceOf(TsBackend);
    expect(report.attempts).toHaveLength(1);
    backend.dispose();
  });

  it('auto never throws and reports a reason for every failed backend', async () => {
    const { backend, report } = await chooseBackend({ env: {}, probeAll: true });
    expect(report.attempts.map((a) => a.name)).toEqual(['webgpu', 'wasm', 'ts']);
    for (const a of report.attempts) expect(a.reason.length).toBeGreaterThan(0);
    expect(report.attempts.find((a) => a.name === backend.name)!.ok).toBe(true);
    backend.dispose();
  });
});
