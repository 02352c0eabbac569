/**
 * Which kernel attends over packed tiles (shaders.ts chooseAttendKernel), and a compile check of
 * the subgroup kernel (wgsl/attend/kivi-fold-sg.wgsl) on this machine's adapter.
 *
 * The subgroup kernel runs only where the adapter has `subgroups` with 32-wide subgroups (the
 * H100 behind the device tool); neither software adapter here (Dawn on llvmpipe, wgpu on
 * lavapipe) exposes subgroups, so its numerics are checked on the H100 by bench/gpu/attention.ts
 * (every case <= 4K tokens against a float64 reference, bench/README.md). Here it is compiled,
 * pipeline constants included, with its subgroup operations (attend/subgroup-ops.wgsl) swapped
 * for identity stand-ins: that catches every WGSL error outside that 8-line file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getGpuDevice, type GpuContext } from '../../ts/backends/webgpu/device.js';
import { WGSL_KERNELS } from '../../ts/backends/webgpu/kernels.js';
import { chooseAttendKernel, kiviFoldSgWorkgroupBytes, kiviFoldWorkgroupBytes } from '../../ts/backends/webgpu/shaders.js';

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
  it('everything else: tiles.wgsl with word-load hooks (KIVI-2/4 pairs of equal bits) or generic hooks', () => {
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, headDim: 40 }).kernel).toBe('words');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, headDim: 256, subgroupSize: 32 }).kernel).toBe('words');
    expect(chooseAttendKernel(k.kivi2!, k.kivi8!, { ...base, subgroupSize: 32 }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.fp16!, k.fp16!, { ...base, subgroupSize: 32 }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, vec4Aligned: false }).kernel).toBe('fold');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, kernel: 'words' }).kernel).toBe('words');
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, kernel: 'words', vec4Aligned: false }).kernel).toBe('generic');
    expect(chooseAttendKernel(k.q4_0!, k.q4_0!, { ...base, kernel: 'fold' }).kernel).toBe('generic');
  });
  it('heads per workgroup shrink to fit the workgroup memory limit', () => {
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, group: 8 }).headsPerWorkgroup).toBe(4);
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, group: 1 }).headsPerWorkgroup).toBe(1);
    const limit = kiviFoldWorkgroupBytes(2, 128);
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, maxWorkgroupBytes: limit }).headsPerWorkgroup).toBe(2);
    expect(kiviFoldSgWorkgroupBytes(4, 128)).toBeLessThan(16384);
    // below even one head's need: no fold kernel at all
    expect(chooseAttendKernel(k.kivi2!, k.kivi2!, { ...base, maxWorkgroupBytes: kiviFoldWorkgroupBytes(1, 128) - 4 }).kernel).toBe('words');
  });
});

const STAND_INS = `
fn sg_xor1(v: f32, mask: u32) -> f32 { return v; }
fn sg_xor2(v: vec2<f32>, mask: u32) -> vec2<f32> { return v; }
fn sg_xor4(v: vec4<f32>, mask: u32) -> vec4<f32> { return v; }
fn sg_shuffle1(v: f32, src: u32) -> f32 { return v; }
fn sg_shuffle2(v: vec2<f32>, src: u32) -> vec2<f32> { return v; }
fn sg_shuffle4(v: vec4<f32>, src: u32) -> vec4<f32> { return v; }
fn sg_max4(v: vec4<f32>) -> vec4<f32> { return v; }
fn sg_add1(v: f32) -> f32 { return v; }
`;

let ctx: GpuContext | undefined;
let unavailable: string | undefined;
beforeAll(async () => {
  try { ctx = await getGpuDevice(); } catch (e) { unavailable = (e as Error).message; }
});

describe('kivi-fold-sg.wgsl compiles (subgroup operations stubbed)', () => {
  for (const [key, value, headDim, group] of [['kivi2', 'kivi2', 128, 1], ['kivi4', 'kivi2', 128, 4], ['kivi2', 'kivi4', 64, 2], ['kivi4', 'kivi4', 64, 3]] as const) {
    it(`${key}/${value} d${headDim} group ${group}`, async () => {
      if (!ctx) throw new Error(`no WebGPU adapter: ${unavailable}`);
      const choice = chooseAttendKernel(k[key]!, k[value]!, { headDim, group, maxWorkgroupBytes: ctx.limits.maxComputeWorkgroupStorageSize, vec4Aligned: true, subgroupSize: 32 });
      expect(choice.kernel).toBe('fold-sg');
      expect(choice.source.startsWith('enable subgroups;')).toBe(true);
      const opsStart = choice.source.indexOf('// ---- wgsl/attend/subgroup-ops.wgsl');
      const opsEnd = choice.source.indexOf('// ---- wgsl/attend/kivi-fold-sg.wgsl');
      expect(opsStart).toBeGreaterThan(0);
      expect(opsEnd).toBeGreaterThan(opsStart);
      const code = choice.source.slice(0, opsStart).replace(/^enable subgroups;\ndiagnostic\(off, subgroup_uniformity\);\n/, '')
        + STAND_INS + choice.source.slice(opsEnd);
      const dev = ctx.device;
      dev.pushErrorScope('validation');
      const module = dev.createShaderModule({ code, label: 'kivi-fold-sg stand-ins' });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      expect(errors).toEqual([]);
      const constants = { HEAD_DIM: headDim, N_HEADS: group * 2, GROUP: group, LANES: 4, HEAD_STRIDE: 1024, V_OFFSET: 512, K_PARAMS: 0, V_PARAMS: 0,
        K_BITS: k[key]!.bits!, V_BITS: k[value]!.bits! };
      await dev.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'attend_tiles', constants } });
      expect(await dev.popErrorScope()).toBeNull();
    });
  }
});
