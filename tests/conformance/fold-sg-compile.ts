/**
 * Compiles the subgroup attention kernel (wgsl/attend/fold-subgroup.wgsl) on an adapter without
 * subgroups: its subgroup operations (attend/subgroup-ops.wgsl) are swapped for identity
 * stand-ins and the `enable subgroups` prelude dropped, so every WGSL error outside that 8-line
 * file shows up, pipeline constants included. Shared by the vitest run on Dawn
 * (attend-kernel-choice.test.ts) and the Deno run on wgpu (tests/deno/matrix.ts); no
 * test-framework imports here. The kernel's numbers are checked on an H100 (bench/README.md).
 */
import { WGSL_BY_NAME as WGSL_KERNELS } from '../helpers/wgsl-kernels.js';
import { chooseAttendKernel } from '../../ts/backends/webgpu/shaders.js';

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

export interface FoldSgCompileCase { key: string; value: string; headDim: number; group: number; foldSpan?: number }

/**
 * KIVI: both bit widths, both head sizes, one head (no prefetch) and several (prefetch); SKVQ:
 * ternary and 2/4-bit values, chunks meeting 1 or 2 groups; q8_0/q4_0 both ways; fp16.
 */
export const FOLD_SG_COMPILE_CASES: readonly FoldSgCompileCase[] = [
  { key: 'kivi2', value: 'kivi2', headDim: 128, group: 1 },
  { key: 'kivi4', value: 'kivi2', headDim: 128, group: 4 },
  { key: 'kivi2', value: 'kivi4', headDim: 64, group: 2 },
  { key: 'kivi4', value: 'kivi4', headDim: 64, group: 3 },
  { key: 'skvq-k2', value: 'skvq-v1.5', headDim: 128, group: 1, foldSpan: 2 },
  { key: 'skvq-k2', value: 'skvq-v1.5', headDim: 128, group: 4, foldSpan: 1 },
  { key: 'skvq-k4', value: 'skvq-v2', headDim: 64, group: 2, foldSpan: 2 },
  { key: 'q8_0', value: 'q4_0', headDim: 128, group: 4 },
  { key: 'q4_0', value: 'q8_0', headDim: 64, group: 1 },
  { key: 'fp16', value: 'fp16', headDim: 128, group: 4 },
];

/** The stand-in source of one case (throws if the kernel source no longer has the expected sections). */
export function foldSgStandInSource(c: FoldSgCompileCase, maxWorkgroupBytes: number): string {
  const k = WGSL_KERNELS;
  const choice = chooseAttendKernel(k[c.key]!, k[c.value]!, { headDim: c.headDim, group: c.group, maxWorkgroupBytes, vec4Aligned: true, subgroupSize: 32,
    ...(c.foldSpan !== undefined ? { foldSpan: c.foldSpan } : {}) });
  if (choice.kernel !== 'fold-sg') throw new Error(`expected the fold-sg kernel, got ${choice.kernel}`);
  const prelude = 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n';
  const opsStart = choice.source.indexOf('// ---- wgsl/attend/subgroup-ops.wgsl');
  const opsEnd = choice.source.indexOf('// ---- wgsl/attend/fold-subgroup.wgsl');
  if (!choice.source.startsWith(prelude) || opsStart < 0 || opsEnd < opsStart) throw new Error('fold-sg source layout changed');
  return choice.source.slice(prelude.length, opsStart) + STAND_INS + choice.source.slice(opsEnd);
}

/** Compile errors of one case on `device` (empty = it compiled and a pipeline was created). */
export async function compileFoldSg(device: GPUDevice, c: FoldSgCompileCase): Promise<string[]> {
  const code = foldSgStandInSource(c, Number(device.limits.maxComputeWorkgroupStorageSize));
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label: 'fold-sg stand-ins' });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
  const k = WGSL_KERNELS;
  const constants: Record<string, number> = { HEAD_DIM: c.headDim, N_HEADS: c.group * 2, GROUP: c.group, LANES: 4, HEAD_STRIDE: 1024, V_OFFSET: 512,
    K_PARAMS: 0, V_PARAMS: 0 };
  const kb = k[c.key]!.bits, vb = k[c.value]!.bits;
  if (kb !== undefined) constants.K_BITS = kb;
  if (vb !== undefined) constants.V_BITS = vb;
  try {
    await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'attend_tiles', constants } });
  } catch (e) {
    errors.push(`pipeline: ${(e as Error).message}`);
  }
  const scopeError = await device.popErrorScope();
  if (scopeError) errors.push(`validation: ${scopeError.message}`);
  return errors;
}
