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

/**
 * Time of one step recorded by `record`, measured as `reps` consecutive steps inside one
 * timestamped compute pass (median over 7 such passes) divided by reps: robust when the
 * adapter quantizes timestamps (Dawn's default 100 us quantization would swallow a 30 us step)
 * and includes the barriers between dependent dispatches, as a real decode step has them.
 * Host fallback: submit + onSubmittedWorkDone around the same pass.
 */
export async function timeSteps(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void, reps: number,
  samples = 7, warmupMs = 250): Promise<GpuTiming> {
  const once = (qs?: GPUQuerySet): GPUCommandEncoder => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    for (let i = 0; i < reps; i++) record(pass);
    pass.end();
    return enc;
  };
  // warm-up: first touch and clocks; on the H100 the first ~30 ms of steps over a freshly
  // filled 3 GiB pool ran 4x slower than the rest, so warm up for >= 250 ms, not one submit
  const warmStart = performance.now();
  do {
    device.queue.submit([once().finish()]);
    await device.queue.onSubmittedWorkDone();
  } while (performance.now() - warmStart < warmupMs);
  const ts: number[] = [];
  if (device.features.has('timestamp-query')) {
    const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    for (let r = 0; r < samples; r++) {
      const enc = once(qs);
      enc.resolveQuerySet(qs, 0, 2, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      const ms = Number(t[1]! - t[0]!) / 1e6 / reps;
      if (ms > 0) ts.push(ms);
    }
    qs.destroy(); resolve.destroy(); read.destroy();
    if (ts.length >= samples / 2) {
      ts.sort((a, b) => a - b);
      return { ms: ts[ts.length >> 1]!, method: 'timestamp', samples: ts.length };
    }
  }
  const host: number[] = [];
  for (let r = 0; r < samples; r++) {
    const t0 = performance.now();
    device.queue.submit([once().finish()]);
    await device.queue.onSubmittedWorkDone();
    host.push((performance.now() - t0) / reps);
  }
  host.sort((a, b) => a - b);
  return { ms: host[host.length >> 1]!, method: 'host', samples: host.length };
}
