/**
 * Which kernel attends over packed tiles (shaders.ts chooseAttendKernel), and a compile check of
 * the subgroup kernel (wgsl/attend/fold-subgroup.wgsl) on this machine's adapter.
 *
 * The subgroup kernel runs only where the adapter has `subgroups` with 32-wide subgroups (the
 * H100 behind the device tool); neither software adapter here (Dawn on llvmpipe, wgpu on
 * lavapipe) exposes subgroups, so its numerics are checked on the H100 by bench/gpu/attention.ts
 * (every case <= 4K tokens against a float64 reference, bench/README.md). Here it is compiled,
 * pipeline constants included, with its subgroup operations (attend/subgroup-ops.wgsl) swapped
 * for identity stand-ins (fold-sg-compile.ts, also run on wgpu by tests/deno/matrix.ts):
 * that catches every WGSL error outside that 8-line file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getGpuDevice, type GpuContext } from '../../ts/backends/webgpu/device.js';
import { WGSL_BY_NAME as WGSL_KERNELS } from '../helpers/wgsl-kernels.js';
import { chooseAttendKernel, foldSgWorkgroupBytes, foldWorkgroupBytes } from '../../ts/backends/webgpu/shaders.js';
import { compileFoldSg, FOLD_SG_COMPILE_CASES } from './fold-sg-compile.js';
import { plainSkvqCalibration, SkvqCodec } from '../../ts/codecs/skvq/index.js';
import { skvqChunkSpan } from '../../ts/codecs/skvq/webgpu.js';

const k = WGSL_KERNELS;
const base = { headDim: 128, group: 4, maxWorkgroupBytes: 49152, vec4Aligned: true };

describe('attention kernel choice', () => {
  it('KIVI-2/4 at head_dim 64/128: subgroup fold with 32-wide subgroups, else the workgroup-memory fold', () => {
    for (const [key, value] of [[k.kivi2!, k.kivi2!], [k.kivi4!, k.kivi4!], [k.kivi2!, k.kivi4!]] as const) {
      for (const headDim of [64, 128]) {
        expect(chooseAttendKernel(key, value, { ...base, headDim, subgroupSize: 32 }).kernel).toBe('fold-sg');
        expect(chooseAttendKernel(key, value, { ...base, headDim }).kernel).toBe('fold');
        expect(chooseAttendKernel(key, value, { ...base, headDim, subgroupSize: 64 }).kernel).toBe('fold');
        expect(chooseAttendKernel(key, value, { ...base, headDim, subgroupSize: 32, kernel: 'fold' }).kernel).toBe('fold');
      }
    }
  });
  it('exponent fields in registers (FOLD_EXP_REGISTERS) where they measured faster', () => {
    const sg = { ...base, subgroupSize: 32 };
    const flag = (src: string): string | undefined => /const FOLD_EXP_REGISTERS: bool = (\w+);/.exec(src)?.[1];
    expect(flag(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...sg, group: 1 }).source)).toBe('true');
    expect(flag(chooseAttendKernel(k.kivi2!, k.kivi2!, sg).source)).toBe('true');
    expect(flag(chooseAttendKernel(k.q4_0!, k.q4_0!, sg).source)).toBe('true');
    expect(flag(chooseAttendKernel(k.fp16!, k.fp16!, sg).source)).toBe('false');
    const [sk, sv] = [k['skvq-k2']!, k['skvq-v1.5']!];
    expect(flag(chooseAttendKernel(sk, sv, { ...sg, foldSpan: 1, group: 1 }).source)).toBe('false');
    expect(flag(chooseAttendKernel(sk, sv, { ...sg, foldSpan: 1 }).source)).toBe('true');
  });
  it('SKVQ (2/4-bit keys; 2/4-bit or ternary values) folds where no chunk meets more than 4 groups', () => {
    const sk = (key: string, value: string) => [k[key]!, k[value]!] as const;
    for (const [key, value] of [sk('skvq-k2', 'skvq-v1.5'), sk('skvq-k4', 'skvq-v2'), sk('skvq-k2', 'skvq-v2')]) {
      for (const foldSpan of [1, 2, 4]) {
        expect(chooseAttendKernel(key, value, { ...base, foldSpan, subgroupSize: 32 }).kernel).toBe('fold-sg');
        expect(chooseAttendKernel(key, value, { ...base, foldSpan, headDim: 64 }).kernel).toBe('fold');
      }
      expect(chooseAttendKernel(key, value, { ...base, foldSpan: 5, subgroupSize: 32 }).kernel).toBe('generic');
      expect(chooseAttendKernel(key, value, { ...base, subgroupSize: 32 }).kernel).toBe('generic'); // span unknown
      expect(chooseAttendKernel(key, value, { ...base, foldSpan: 1, headDim: 96 }).kernel).toBe('generic');
    }
    // ternary keys have no fold path; the glue says which value decoder runs
    expect(chooseAttendKernel(k['skvq-v1.5']!, k['skvq-v2']!, { ...base, foldSpan: 1 }).kernel).toBe('generic');
    expect(chooseAttendKernel(k['skvq-k2']!, k['skvq-v1.5']!, { ...base, foldSpan: 2 }).source).toContain('const FOLD_V_TERNARY: bool = true;');
    expect(chooseAttendKernel(k['skvq-k2']!, k['skvq-v2']!, { ...base, foldSpan: 2 }).source).toContain('const FOLD_SPAN: u32 = 2u;');
    // rows of 32 invocations stay within maxComputeInvocationsPerWorkgroup (WebGPU's default 256)
    const rows = (maxInvocations?: number): string | undefined => /const FOLD_W: u32 = (\d+)u;/.exec(chooseAttendKernel(k['skvq-k2']!, k['skvq-v2']!,
      { ...base, foldSpan: 2, subgroupSize: 32, ...(maxInvocations ? { maxInvocations } : {}) }).source)?.[1];
    expect(rows()).toBe('8');
    expect(rows(1024)).toBe('16');
  });
  it('skvqChunkSpan: the most groups an 8-position chunk meets, over heads', () => {
    const span = (cuts: number[][]): number => {
      const cal = plainSkvqCalibration('key', cuts.length, 64, 2, 32, cuts[0]!.length + 1);
      cal.heads = cuts.map((c) => ({ perm: Array.from({ length: 64 }, (_, i) => 63 - i), groupStart: [0, ...c, 64] }));
      return skvqChunkSpan(new SkvqCodec('skvq', 2, { kind: 'key', headDim: 64, nKvHeads: cuts.length, calibration: cal }).paramWords, 64);
    };
    expect(span([[8, 32]])).toBe(1);
    expect(span([[8, 33]])).toBe(2);
    expect(span([[8, 32], [9, 12]])).toBe(3); // the second head decides
  });
  it('q8_0/q4_0 pairs (either order) fold at head_dim 64/128', () => {
    for (const [key, value] of [[k.q8_0!, k.q8_0!], [k.q4_0!, k.q4_0!], [k.q8_0!, k.q4_0!]] as const) {
      expect(chooseAttendKernel(key, value, { ...base, subgroupSize: 32 }).kernel).toBe('fold-sg');
      expect(chooseAttendKernel(key, value, { ...base, headDim: 64 }).kernel).toBe('fold');
      expect(chooseAttendKernel(key, value, { ...base, kernel: 'generic' }).kernel).toBe('generic');
    }
  });
  it('everything else: tiles.wgsl with word-load hooks (KIVI-2/4 pairs of equal bits) or generic hooks', () => {
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, headDim: 40 }).kernel).toBe('words');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, headDim: 256, subgroupSize: 32 }).kernel).toBe('words');
    expect(chooseAttendKernel(k.kivi2!, k.kivi8!, { ...base, subgroupSize: 32 }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.fp16!, k.fp16!, { ...base, subgroupSize: 32 }).kernel).toBe('fold-sg');
    expect(chooseAttendKernel(k.fp16!, k.fp16!, { ...base, headDim: 64 }).kernel).toBe('fold');
    expect(chooseAttendKernel(k.fp32!, k.fp32!, { ...base, subgroupSize: 32 }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, vec4Aligned: false }).kernel).toBe('fold');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, kernel: 'words' }).kernel).toBe('words');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, kernel: 'words', vec4Aligned: false }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.q4_0!, k.fp16!, { ...base, kernel: 'fold' }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.q8_0!, k.q8_0!, { ...base, headDim: 256, subgroupSize: 32 }).kernel).toBe('generic');
  });
  it('heads per workgroup shrink to fit the workgroup memory limit', () => {
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, group: 8 }).headsPerWorkgroup).toBe(4);
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, group: 1 }).headsPerWorkgroup).toBe(1);
    const limit = foldWorkgroupBytes(2, 128);
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, maxWorkgroupBytes: limit }).headsPerWorkgroup).toBe(2);
    expect(foldSgWorkgroupBytes(4, 128)).toBeLessThan(16384);
    // below even one head's need: no fold kernel at all
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, maxWorkgroupBytes: foldWorkgroupBytes(1, 128) - 4 }).kernel).toBe('words');
  });
});

let ctx: GpuContext | undefined;
let unavailable: string | undefined;
beforeAll(async () => {
  try { ctx = await getGpuDevice(); } catch (e) { unavailable = (e as Error).message; }
});

describe('fold-subgroup.wgsl compiles (subgroup operations stubbed, tests/conformance/fold-sg-compile.ts)', () => {
  for (const c of FOLD_SG_COMPILE_CASES) {
    it(`${c.key}/${c.value} d${c.headDim} group ${c.group}`, async () => {
      if (!ctx) throw new Error(`no WebGPU adapter: ${unavailable}`);
      expect(await compileFoldSg(ctx.device, c)).toEqual([]);
    });
  }
});
