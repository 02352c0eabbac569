import { adapterInfoOf, BufferUsage, MAP_READ_MODE, writeArray } from './device.js';

/**
 * The adapter's subgroup size, when the device has the `subgroups` feature and every subgroup
 * of a 128-invocation workgroup reports the same size; else undefined. Probed once per context
 * with a tiny kernel (WebGPU exposes no per-device subgroup size the kernels could rely on:
 * adapters report a min..max range). fold-subgroup.wgsl needs exactly 32.
 */
export function subgroupSize(device: GPUDevice): Promise<number | undefined> {
  let p = probes.get(device);
  if (!p) {
    p = probe(device).catch(() => undefined);
    probes.set(device, p);
  }
  return p;
}

const probes = new WeakMap<GPUDevice, Promise<number | undefined>>();

const PROBE_WGSL = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> sizes: array<atomic<u32>, 2>;
@compute @workgroup_size(128)
fn main(@builtin(subgroup_size) n: u32) {
  atomicMin(&sizes[0], n);
  atomicMax(&sizes[1], n);
}`;

async function probe(dev: GPUDevice): Promise<number | undefined> {
  if (!dev.features.has('subgroups')) return undefined;
  const pipe = await dev.createComputePipelineAsync({ layout: 'auto', compute: { module: dev.createShaderModule({ code: PROBE_WGSL, label: 'kvpack-subgroup-probe' }), entryPoint: 'main' } });
  const buf = dev.createBuffer({ size: 8, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
  const read = dev.createBuffer({ size: 8, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  try {
    writeArray(dev.queue, buf, 0, new Uint32Array([0xffffffff, 0]));
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] }));
    pass.dispatchWorkgroups(4);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, read, 0, 8);
    dev.queue.submit([enc.finish()]);
    await read.mapAsync(MAP_READ_MODE);
    const [min, max] = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    return min === max && min! > 0 ? min : undefined;
  } finally {
    buf.destroy();
    read.destroy();
  }
}
