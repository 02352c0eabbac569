/**
 * The bench's matrix kernel (bench/gpu/matrix/: KIVI-2/4 attention as i8 matrix products; a bench
 * experiment, decisions.md#D22, #D27), so its H100 numbers come from a kernel that computes
 * attention:
 * - where it applies (KIVI-2/4, head_dim 64/128, i8 subgroup matrices with 8 or 16 columns) and
 *   its shape (heads per workgroup);
 * - its plain-WGSL form (mx-ops-emulated.wgsl: the same workgroup bytes and results as the
 *   subgroup matrices, which only the H100 bench has) run through the backend as an outside
 *   driver (GpuAttendOptions.driver) on Dawn: words and attention vs attendReference, the cases of
 *   tests/conformance/webgpu-cases.ts. No adapter FAILS unless KVPACK_ALLOW_NO_GPU=1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getGpuDevice } from '../../ts/backends/webgpu/device.js';
import { WebGpuBackend } from '../../ts/backends/webgpu/backend.js';
import { TILES_PER_PAGE } from '../../ts/format/constants.js';
import { composeMatrix, matrixDriver } from '../../bench/gpu/matrix/driver.js';
import { runWebGpuCase, type WebGpuCase } from '../conformance/webgpu-cases.js';
import { WGSL_BY_NAME as k } from '../helpers/wgsl-kernels.js';

const base = { headDim: 128, group: 4, maxWorkgroupBytes: 49152, vec4Aligned: true, subgroupSize: 32 };

describe('matrix kernel choice', () => {
  it('KIVI-2/4 pairs at head_dim 64/128 with i8 subgroup matrices; the emulated form anywhere', () => {
    for (const [key, value] of [[k.kivi2!, k.kivi2!], [k.kivi4!, k.kivi2!]] as const) {
      const gqa = composeMatrix(key, value, base, false, [8, 16])!;
      expect(gqa.kernel).toBe('mx');
      expect(gqa.headsPerWorkgroup).toBe(4); // 4 heads x 4 limbs = 16 columns
      expect(gqa.source).toContain('enable chromium_experimental_subgroup_matrix;');
      expect(gqa.source).toContain('const MX_N: u32 = 16u;');
      // 8 columns only: 2 heads per workgroup
      expect(composeMatrix(key, value, base, false, [8])?.headsPerWorkgroup).toBe(2);
      expect(composeMatrix(key, value, { ...base, group: 1 }, false, [8, 16])!.source).toContain('const MX_N: u32 = 8u;');
      // without the matrices, other subgroup sizes or head sizes: not this kernel
      expect(composeMatrix(key, value, base, false, [])).toBeUndefined();
      expect(composeMatrix(key, value, { ...base, subgroupSize: 64 }, false, [8, 16])).toBeUndefined();
      expect(composeMatrix(key, value, { ...base, headDim: 256 }, false, [8, 16])).toBeUndefined();
      const emu = composeMatrix(key, value, { headDim: 128, group: 4, maxWorkgroupBytes: 49152, vec4Aligned: true }, true)!;
      expect(emu.kernel).toBe('mx-emulated');
      expect(emu.source).not.toContain('subgroup_matrix');
    }
    expect(composeMatrix(k.q8_0!, k.q8_0!, base, false, [8, 16])).toBeUndefined();
    expect(composeMatrix(k.kivi8!, k.kivi8!, base, true)).toBeUndefined();
  });
});

// MHA (8 result columns), GQA 4 (16), group 6 (4 + 2 repeating), 4-bit and mixed widths, head_dim
// 64, partial last tiles, sinks and windows, 2 pages. Work items stay short: llvmpipe stops a
// shader's loops after 65535 iterations in all (seen: wrong outputs from ~31 tiles per item at
// head_dim 128), and the emulation's products loop per byte.
const emulated = matrixDriver(true);
const CASES: WebGpuCase[] = [
  { name: 'kivi2 d128 kv3 h3 MHA mx', key: 'kivi2', value: 'kivi2', nKvHeads: 3, headDim: 128, nHeads: 3, window: 5, sinks: 2, lengths: [420, 199], data: 'outlier', tilesPerSplit: 5 },
  { name: 'kivi2 d128 kv2 h8 GQA mx', key: 'kivi2', value: 'kivi2', nKvHeads: 2, headDim: 128, nHeads: 8, window: 0, sinks: 0, lengths: [141, 77], data: 'outlier', tilesPerSplit: 2 },
  { name: 'kivi4 d64 kv1 h6 mx', key: 'kivi4', value: 'kivi4', nKvHeads: 1, headDim: 64, nHeads: 6, window: 0, sinks: 1, lengths: [110, 66], data: 'gaussian' },
  { name: 'kivi2/kivi4 d128 kv1 h2 mx', key: 'kivi2', value: 'kivi4', nKvHeads: 1, headDim: 128, nHeads: 2, window: 0, sinks: 0, lengths: [333, 97], data: 'outlier', tilesPerSplit: 3 },
  { name: 'kivi4/kivi2 d64 kv2 h4 2 pages mx', key: 'kivi4', value: 'kivi2', nKvHeads: 2, headDim: 64, nHeads: 4, window: 9, sinks: 0,
    lengths: [TILES_PER_PAGE * 32 + 40, 100], data: 'outlier', pagesPerBuffer: 1, tilesPerSplit: 16 },
].map((c) => ({ ...c, data: c.data as WebGpuCase['data'], lengths: c.lengths as [number, number], driver: emulated }));

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
let backend: WebGpuBackend | undefined;
let unavailable: string | undefined;
beforeAll(async () => {
  try {
    backend = new WebGpuBackend(await getGpuDevice());
  } catch (e) {
    unavailable = (e as Error).message;
  }
});
afterAll(() => backend?.dispose());

describe('matrix kernel, plain-WGSL products (Dawn)', () => {
  for (const c of CASES) {
    it(`${c.name}: words === TS, attention within tolerance`, async () => {
      if (!backend && allowNoGpu) {
        console.warn(`*** webgpu: unavailable (${unavailable}); KVPACK_ALLOW_NO_GPU=1, matrix kernel NOT run ***`);
        return;
      }
      expect(unavailable, `no WebGPU adapter: ${unavailable}`).toBeUndefined();
      const r = await runWebGpuCase(c, backend!);
      expect(r.firstMismatch, 'first differing word').toBeUndefined();
      expect(r.tiles).toBeGreaterThan(0);
      expect(r.mirrorErr).toBeLessThanOrEqual(r.tol);
      expect(r.residentErr).toBeLessThanOrEqual(r.tol);
    });
  }
  it('the driver applies to every case on this adapter (else the backend would have run its own choice)', () => {
    if (!backend && allowNoGpu) return;
    const maxWorkgroupBytes = backend!.gpu.limits.maxComputeWorkgroupStorageSize;
    for (const c of CASES) {
      const key = k[c.key]!, value = k[c.value]!;
      expect(emulated(key, value, { headDim: c.headDim, group: c.nHeads / c.nKvHeads, maxWorkgroupBytes, vec4Aligned: true })?.kernel,
        `${c.name} (${maxWorkgroupBytes} bytes of workgroup memory)`).toBe('mx-emulated');
    }
  });
});
