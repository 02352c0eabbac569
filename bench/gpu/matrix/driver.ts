/**
 * The matrix attention kernel for KIVI-2/4 (kivi.wgsl beside this file, with mx-ops.wgsl on i8
 * subgroup matrices or mx-ops-emulated.wgsl in plain WGSL): a bench experiment, not a library
 * path (decisions.md#D22: design and H100 timings, slower than fold-sg; #D27: why it lives here).
 * `matrixDriver` plugs it into the library's attention as an outside driver
 * (GpuAttendOptions.driver): bench/gpu/attention.ts variants `mx` / `mx-emulated`, and
 * tests/bench/matrix-kernel.test.ts (the emulated form on Dawn vs attendReference).
 * WGSL files are read relative to the working directory (the repository root), as the bench's.
 */
import { readFileSync } from 'node:fs';
import type { WgslCodecKernels } from '../../../ts/codecs/kernels.js';
import { adapterInfoOf } from '../../../ts/backends/webgpu/device.js';
import { TILE_TOKENS } from '../../../ts/format/constants.js';
import { wgslFile, type AttendDriverFn, type AttendKernelChoice, type ChooseAttendOptions } from '../../../ts/backends/webgpu/shaders.js';

/** Source prelude with subgroup matrices (mx-ops.wgsl). */
const MATRIX_PRELUDE = 'enable subgroups;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic(off, subgroup_uniformity);\n';

/** The feature of Dawn's experimental subgroup matrices (needs the allow_unsafe_apis toggle in Dawn). */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

interface MatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }

/**
 * Result columns N of the device's i8 x i8 -> i32 subgroup matrices with M = 16, K = 32 (the
 * products of mx-ops.wgsl), from the adapter info the device carries; empty without the feature
 * (browsers without it, every software adapter, Dawn without the toggle).
 */
export function int8MatrixColumns(device: GPUDevice): number[] {
  if (!device.features.has(SUBGROUP_MATRIX_FEATURE as GPUFeatureName)) return [];
  const info = adapterInfoOf(device);
  const configs = [...((info as { subgroupMatrixConfigs?: Iterable<MatrixConfig> } | undefined)?.subgroupMatrixConfigs ?? [])];
  return configs.filter((c) => c.componentType === 'i8' && c.resultComponentType === 'i32' && c.M === 16 && c.K === 32)
    .map((c) => c.N).sort((a, b) => a - b);
}

/** Both streams KIVI at 2 or 4 bits (any mix): the codecs with KIVI's folded-driver file. */
function kiviPair(key: WgslCodecKernels, value: WgslCodecKernels): boolean {
  return key.fold?.file === 'kivi/fold.wgsl' && value.fold?.file === 'kivi/fold.wgsl';
}

/**
 * The kernel's shape for a codec pair, or undefined where it does not apply: KIVI-2/4 streams,
 * head size 64 or 128, and an i8 product with `n` result columns among `columns` (4 limbs per
 * head: 8 columns take 2 heads, 16 take 4).
 */
export function matrixShape(key: WgslCodecKernels, value: WgslCodecKernels, headDim: number, group: number,
  columns: readonly number[]): { heads: number; n: number } | undefined {
  if (!kiviPair(key, value) || (headDim !== 64 && headDim !== 128)) return undefined;
  const heads = Math.min(group, columns.includes(16) ? 4 : 2);
  const n = 4 * heads <= 8 && columns.includes(8) ? 8 : 16;
  return columns.includes(n) ? { heads, n } : undefined;
}

/** Workgroup memory (queries, codes, limbs, results; + the emulation's reductions), in bytes. */
export function matrixWorkgroupBytes(heads: number, headDim: number, n: number, emulated: boolean): number {
  return 4 * heads * headDim + TILE_TOKENS * headDim + headDim * n + headDim * n + 4 * headDim * n + (emulated ? 512 : 0);
}

function section(label: string, src: string): string {
  return `// ---- ${label}\n${src}`;
}

/**
 * The composed kernel for a pair, or undefined where it does not apply or does not fit the
 * workgroup memory. `columns`: the device's i8 matrix shapes (int8MatrixColumns); the emulated
 * form runs anywhere (8 and 16 columns).
 */
export function composeMatrix(key: WgslCodecKernels, value: WgslCodecKernels, opts: ChooseAttendOptions, emulated: boolean,
  columns: readonly number[] = []): AttendKernelChoice | undefined {
  const mx = matrixShape(key, value, opts.headDim, opts.group, emulated ? [8, 16] : opts.subgroupSize === 32 ? columns : []);
  if (!mx) return undefined;
  let { heads } = mx;
  const { n } = mx;
  while (heads > 1 && matrixWorkgroupBytes(heads, opts.headDim, n, emulated) > opts.maxWorkgroupBytes) heads--;
  if (matrixWorkgroupBytes(heads, opts.headDim, n, emulated) > opts.maxWorkgroupBytes) return undefined;
  const glue = `const MX_D: u32 = ${opts.headDim}u;\nconst MX_N: u32 = ${n}u;\nconst MX_G: u32 = ${heads}u;\nconst MX_KB: u32 = ${key.bits}u;\nconst MX_VB: u32 = ${value.bits}u;`;
  const ops = emulated ? 'mx-ops-emulated.wgsl' : 'mx-ops.wgsl';
  const source = (emulated ? '' : MATRIX_PRELUDE) + [
    section('wgsl/constants.wgsl', wgslFile('constants.wgsl')),
    section('glue', glue),
    section('wgsl/attend/bindings.wgsl', wgslFile('attend/bindings.wgsl')),
    section('bench/gpu/matrix/kivi.wgsl', readFileSync('bench/gpu/matrix/kivi.wgsl', 'utf8')),
    section(`bench/gpu/matrix/${ops}`, readFileSync(`bench/gpu/matrix/${ops}`, 'utf8')),
  ].join('\n');
  return { kernel: emulated ? 'mx-emulated' : 'mx', headsPerWorkgroup: heads, source };
}

/** The kernel as an outside driver of the library's attention (GpuAttendOptions.driver). */
export function matrixDriver(emulated: boolean, columns: readonly number[] = []): AttendDriverFn {
  return (key, value, opts) => composeMatrix(key, value, opts, emulated, columns);
}

/** Tiles per work item for the matrix kernel: its workgroups are one subgroup of 32, ~4096 of them fill the H100. */
export function matrixTilesPerSplit(units: number): number {
  return Math.max(4, Math.ceil(units / 4096));
}
