/**
 * WebGPU backend: device acquisition, GPU-resident packed cache, flash-decoding attention and
 * quantize-on-append in WGSL. Loaded on demand by ts/backends/detect.ts (`createWebGpuBackend`).
 */
export { BufferUsage, GpuContext, getGpuDevice, type GpuDeviceOptions } from './device.js';
export { WebGpuBackend, type WebGpuBackendOptions } from './backend.js';
export { GpuKvCache, type GpuCacheOptions, type GpuRows, type GpuSequence } from './gpu-cache.js';
export { attendGpu, attendInto, type AttendIntoOptions, type GpuAttendOptions, type GpuBufferSlice } from './attend.js';
export { kernelsFor, type WgslCodecKernels } from './kernels.js';
export { chooseAttendKernel, type AttendKernel } from './shaders.js';
export { subgroupSize } from './subgroups.js';
import { WebGpuBackend, type WebGpuBackendOptions } from './backend.js';

/** Entry point for the backend detector: a ready backend or a thrown reason (BACKEND_UNAVAILABLE). */
export async function createWebGpuBackend(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  return WebGpuBackend.create(opts);
}
