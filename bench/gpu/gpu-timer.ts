/**
 * Times GPU work: with timestamp queries when the device has them (pass begin/end, median of
 * repeats), else many dispatches in one submit timed by the host clock around
 * onSubmittedWorkDone (launch gaps included, so a slight overestimate).
 */
export interface GpuTiming { ms: number; method: 'timestamp' | 'host'; samples: number }

export async function timeGpu(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void,
  opts: { repeats?: number; perSubmit?: number } = {}): Promise<GpuTiming> {
  const repeats = opts.repeats ?? 15;
  const perSubmit = opts.perSubmit ?? 20;
  // warm-up: pipeline compilation and first-touch out of the numbers
  for (let i = 0; i < 3; i++) submit(device, record, 1);
  await device.queue.onSubmittedWorkDone();
  if (device.features.has('timestamp-query')) {
    const qs = device.createQuerySet({ type: 'timestamp', count: 2 * perSubmit });
    const resolve = device.createBuffer({ size: 16 * perSubmit, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16 * perSubmit, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const samples: number[] = [];
    for (let r = 0; r < Math.ceil(repeats / perSubmit) + 1; r++) {
      const enc = device.createCommandEncoder();
      for (let i = 0; i < perSubmit; i++) {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        record(pass); pass.end();
      }
      enc.resolveQuerySet(qs, 0, 2 * perSubmit, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * perSubmit);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      for (let i = 0; i < perSubmit; i++) samples.push(Number(t[2 * i + 1]! - t[2 * i]!) / 1e6);
    }
    qs.destroy(); resolve.destroy(); read.destroy();
    const good = samples.filter((x) => x > 0).sort((a, b) => a - b);
    if (good.length >= repeats / 2) return { ms: good[good.length >> 1]!, method: 'timestamp', samples: good.length };
  }
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    submit(device, record, perSubmit);
    await device.queue.onSubmittedWorkDone();
    times.push((performance.now() - t0) / perSubmit);
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1]!, method: 'host', samples: times.length };
}

function submit(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void, n: number): void {
  const enc = device.createCommandEncoder();
  for (let i = 0; i < n; i++) { const pass = enc.beginComputePass(); record(pass); pass.end(); }
  device.queue.submit([enc.finish()]);
}
