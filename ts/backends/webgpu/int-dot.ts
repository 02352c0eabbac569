/**
 * Whether the device's WGSL compiles dot4I8Packed / pack4xI8 (language feature
 * packed_4x8_integer_dot_product; NVIDIA's Vulkan driver maps it to dp4a): the integer-domain
 * KIVI key kernel (kivi/fold-int.wgsl) needs it. Probed once per device by compiling a tiny
 * module (navigator.gpu.wgslLanguageFeatures is not reachable from a GPUDevice, and a compile
 * is what counts), so the answer is the same in browsers, Deno and Node.
 */
export function packedDot4(device: GPUDevice): Promise<boolean> {
  let p = probes.get(device);
  if (!p) {
    p = probe(device).catch(() => false);
    probes.set(device, p);
  }
  return p;
}

const probes = new WeakMap<GPUDevice, Promise<boolean>>();

const PROBE_WGSL = `requires packed_4x8_integer_dot_product;
@group(0) @binding(0) var<storage, read_write> out: array<i32, 1>;
@compute @workgroup_size(1)
fn main() { out[0] = dot4I8Packed(pack4xI8(vec4<i32>(1, -2, 3, -4)), 0x01010101u); }`;

async function probe(dev: GPUDevice): Promise<boolean> {
  dev.pushErrorScope('validation');
  const module = dev.createShaderModule({ code: PROBE_WGSL, label: 'kvpack-dot4-probe' });
  const info = await module.getCompilationInfo();
  const scope = await dev.popErrorScope();
  return scope === null && !info.messages.some((m) => m.type === 'error');
}
