/**
 * Streaming-read ceiling on the current WebGPU adapter: the bandwidth that packed-cache attention
 * is compared with (bench/gpu). Node: uses the `webgpu` (Dawn) addon; also runs in Deno.
 * usage: node dist/bench/stream-read.js [--mib 1024] [--json out.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { timeGpu } from './gpu-timer.js';
import { openBenchDevice } from './bench-device.js';

export async function measureStreamRead(device: GPUDevice, src: string, mib: number): Promise<{ bytes: number; ms: number; gbps: number; method: string; order: string; workgroups: number }> {
  const bytes = mib * 1024 * 1024; const log = (m: string) => process.env.KVPACK_DEBUG && console.error(m);
  // a read that hit a device error (e.g. after an out-of-memory elsewhere) timed nothing: it throws
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const buf = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  // Fill with non-zero data (never time on zeros): a small pattern copied across the buffer.
  const chunk = new Uint32Array(1 << 18).map((_, i) => (i * 2654435761) >>> 0);
  for (let off = 0; off < bytes; off += chunk.byteLength) {
    device.queue.writeBuffer(buf, off, chunk, 0, Math.min(chunk.length, (bytes - off) / 4));
  }
  log("filled"); const sink = device.createBuffer({ size: 4 * 65536, usage: GPUBufferUsage.STORAGE });
  const module = device.createShaderModule({ code: src });
  // both access orders of stream-read.wgsl, each with a few workgroup counts; the best counts
  let best: { ms: number; method: string; order: string; workgroups: number } | undefined;
  for (const entryPoint of ['main', 'blocked']) {
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint, constants: { WORKGROUP_SIZE: 256 } } });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [
      { binding: 0, resource: { buffer: buf } }, { binding: 1, resource: { buffer: sink } }] });
    // a few waves of workgroups per SM on an H100 (132 SMs); enough for any smaller GPU
    for (const workgroups of [132 * 8, 132 * 16, 132 * 32]) {
      const r = await timeGpu(device, (pass) => {
        pass.setPipeline(pipeline); pass.setBindGroup(0, bind); pass.dispatchWorkgroups(workgroups);
      });
      if (!best || r.ms < best.ms) best = { ms: r.ms, method: r.method, order: entryPoint, workgroups };
    }
  }
  log("measured"); buf.destroy(); sink.destroy();
  const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e) => e !== null);
  if (errors.length) throw new Error(`stream read failed: ${errors.map((e) => e!.message).join('; ')}`);
  return { bytes, ms: best!.ms, gbps: bytes / (best!.ms * 1e-3) / 1e9, method: best!.method, order: best!.order, workgroups: best!.workgroups };
}

// run as a script only (not when bundled into another bench, where import.meta.url is that bench)
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && /stream-read/.test(process.argv[1])) {
  const args = process.argv.slice(2);
  const mib = Number(args[args.indexOf('--mib') + 1] ?? 1024) || 1024;
  const { device, description } = await openBenchDevice();
  const src = readFileSync(new URL('../../bench/gpu/stream-read.wgsl', import.meta.url), 'utf8');
  const r = await measureStreamRead(device, src, mib);
  console.log(JSON.stringify({ adapter: description, ...r }));
  const j = args.indexOf('--json');
  if (j >= 0) writeFileSync(args[j + 1]!, JSON.stringify({ adapter: description, ...r }, null, 1));
  process.exit(0);
}
