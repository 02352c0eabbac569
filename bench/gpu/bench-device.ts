import { noteAdapterInfo } from '../../ts/backends/webgpu/device.js';

/**
 * A WebGPU device for benches with the adapter's full limits (2 GiB bindings on an H100) and
 * timestamp queries when offered. Node: Dawn addon, native backend first (Vulkan on NVIDIA),
 * OpenGL compatibility mode as the software fallback. Deno/browsers: navigator.gpu.
 */
let dawnInstance: GPU | undefined;

export async function openBenchDevice(): Promise<{ device: GPUDevice; description: string }> {
  let adapter: GPUAdapter | null = null;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    // One Dawn instance per process (a second create() crashed the addon here). On a machine with
    // a GPU the default backend is native (Vulkan on NVIDIA); on CPU-only machines the software
    // adapter is OpenGL on Mesa in compatibility mode: KVPACK_DAWN=opengl selects it.
    const { create, globals } = await import('webgpu');
    // Keep the instance reachable: when GC collects it, Dawn tears down under live devices
    // (seen as futex errors and segfaults, on llvmpipe and on an H100).
    Object.assign(globalThis, globals);
    if (process.env.KVPACK_DAWN === 'opengl') {
      process.env.EGL_PLATFORM ??= 'surfaceless';
      dawnInstance = create(['backend=opengl']);
      adapter = await dawnInstance.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    } else {
      // Dawn quantizes timestamps (100 us) unless this toggle is off; timeSteps copes either way
      // KVPACK_DAWN_ENABLE=toggle,...: extra Dawn device toggles for diagnosis only (e.g.
      // disable_robustness: no index clamping in shaders, which browsers never allow)
      const extra = process.env.KVPACK_DAWN_ENABLE;
      dawnInstance = create(['disable-dawn-features=timestamp_quantization', ...(extra ? [`enable-dawn-features=${extra}`] : [])]);
      adapter = await dawnInstance.requestAdapter({ powerPreference: 'high-performance' });
    }
  }
  if (!adapter) throw new Error('no WebGPU adapter');
  const want: Record<string, number> = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
    'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX'
] as const) want[k] = adapter.limits[k];
  const features = (['timestamp-query', 'shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[]).filter((f) => adapter!.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: want, requiredFeatures: features });
  noteAdapterInfo(device, adapter.info);
  const info = adapter.info;
  const description = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.replace(/\s+/g, ' ').trim() +
    ` [features: ${features.join(',') || 'none'}; maxBinding ${(want.maxStorageBufferBindingSize! / 2 ** 20).toFixed(0)} MiB]`;
  return { device, description };
}
