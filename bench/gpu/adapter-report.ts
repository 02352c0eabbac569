/**
 * What the native WebGPU adapter offers, as Dawn's Node addon sees it: every feature, the limits
 * kvpack uses, subgroup sizes and (Dawn's experimental subgroup matrices) the matrix shapes the
 * driver exposes. Run on the device machine to decide which kernel paths can exist there:
 *   node build/bench/adapter-report.js [--toggles allow_unsafe_apis,...] [--json FILE]
 * With --dispatch it also runs one small compute pass (for external profilers to catch).
 */
import { writeFileSync } from 'node:fs';

interface Report {
  toggles: string[];
  adapter?: Record<string, unknown>;
  features?: string[];
  limits?: Record<string, number>;
  subgroupMatrixConfigs?: unknown[];
  device?: { features: string[]; error?: string };
  matrixShader?: string;
  dispatch?: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const toggles = (arg('--toggles') ?? '').split(',').filter(Boolean);
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  // KVPACK_DAWN=opengl: the software adapter of CPU-only machines (as bench-device.ts)
  const opengl = process.env.KVPACK_DAWN === 'opengl';
  const gpu = create([...(opengl ? ['backend=opengl'] : []), ...(toggles.length ? [`enable-dawn-features=${toggles.join(',')}`] : [])]);
  const adapter = await gpu.requestAdapter(opengl ? { featureLevel: 'compatibility' } as GPURequestAdapterOptions : { powerPreference: 'high-performance' });
  const report: Report = { toggles };
  if (!adapter) throw new Error('no WebGPU adapter');
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: Iterable<Record<string, unknown>> };
  report.adapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    subgroupMinSize: (info as unknown as Record<string, unknown>).subgroupMinSize, subgroupMaxSize: (info as unknown as Record<string, unknown>).subgroupMaxSize };
  report.features = [...adapter.features].map(String).sort();
  report.limits = {};
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'] as const) {
    report.limits[k] = adapter.limits[k];
  }
  if (info.subgroupMatrixConfigs) {
    report.subgroupMatrixConfigs = [...info.subgroupMatrixConfigs].map((c) => ({
      componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K,
    }));
  }
  const want = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix']
    .filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice | undefined;
  try {
    device = await adapter.requestDevice({ requiredFeatures: want });
    report.device = { features: [...device.features].map(String).sort() };
  } catch (e) {
    report.device = { features: [], error: String(e) };
  }
  if (device && device.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName)) {
    // the smallest use of a matrix shape: does the driver compile it?
    const cfg = report.subgroupMatrixConfigs?.[0] as { componentType: string; resultComponentType: string; M: number; N: number; K: number } | undefined;
    if (cfg) {
      const t = cfg.componentType; const r = cfg.resultComponentType;
      const code = `${t === 'f16' || r === 'f16' ? 'enable f16;\n' : ''}enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read_write> buf: array<${r}>;
@compute @workgroup_size(32)
fn main() {
  let a = subgroup_matrix_left<${t}, ${cfg.K}, ${cfg.M}>();
  let b = subgroup_matrix_right<${t}, ${cfg.N}, ${cfg.K}>();
  var c = subgroup_matrix_result<${r}, ${cfg.N}, ${cfg.M}>();
  c = subgroupMatrixMultiplyAccumulate(a, b, c);
  subgroupMatrixStore(&buf, 0, c, false, ${cfg.N});
}`;
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code });
      const msgs = (await module.getCompilationInfo()).messages.map((m) => m.message);
      const err = await device.popErrorScope();
      report.matrixShader = err ? `error: ${err.message}` : msgs.length ? msgs.join('; ') : 'compiled';
    }
  }
  if (device && process.argv.includes('--dispatch')) {
    const code = `@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { buf[g.x] = buf[g.x] * 2.0 + 1.0; }`;
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    const buf = device.createBuffer({ size: 4 << 20, usage: GPUBufferUsage.STORAGE });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline); pass.setBindGroup(0, bind); pass.dispatchWorkgroups((1 << 20) / 64); pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    report.dispatch = 'ran';
  }
  const json = JSON.stringify(report, null, 2);
  console.log(json);
  const out = arg('--json');
  if (out) writeFileSync(out, json);
  device?.destroy();
}

main().catch((e) => { console.error(e); process.exit(1); });
