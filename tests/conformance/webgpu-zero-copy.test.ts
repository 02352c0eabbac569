/**
 * Zero-copy attention (attendInto + GpuKvCache.appendFromGpuInto): a decode loop whose K/V,
 * queries and outputs stay in the caller's GPU buffers, recorded into the caller's encoder on
 * the caller's device. Checks (on whatever adapter getGpuDevice finds: Dawn over llvmpipe here)
 * that the steady-state loop calls no mapAsync and no onSubmittedWorkDone (counted by wrapping
 * the prototypes' methods), and that every step's output equals the Float32Array path
 * (append + attendGpu on an identical cache) bit for bit. Fails without an adapter unless
 * KVPACK_ALLOW_NO_GPU=1, like webgpu.test.ts.
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { KvpackError } from '../../ts/errors.js';
import { BufferUsage, GpuContext, getGpuDevice, MAP_READ_MODE, writeArray } from '../../ts/backends/webgpu/device.js';
import { GpuKvCache } from '../../ts/backends/webgpu/gpu-cache.js';
import { attendGpu, attendInto } from '../../ts/backends/webgpu/attend.js';
import { gaussianKv, randomQuery } from '../helpers/data.js';
import { useGpu } from '../helpers/gpu.js';

const gpu = useGpu();

/** Counts calls of GPUBuffer.mapAsync and GPUQueue.onSubmittedWorkDone while `fn` runs. */
async function countSyncs(dev: GPUDevice, fn: () => Promise<void>): Promise<{ mapAsync: number; onSubmittedWorkDone: number }> {
  const probe = dev.createBuffer({ size: 16, usage: BufferUsage.COPY_DST });
  const bufferProto = Object.getPrototypeOf(probe) as { mapAsync: (...a: unknown[]) => Promise<void> };
  const queueProto = Object.getPrototypeOf(dev.queue) as { onSubmittedWorkDone: (...a: unknown[]) => Promise<void> };
  probe.destroy();
  const counts = { mapAsync: 0, onSubmittedWorkDone: 0 };
  const origMap = bufferProto.mapAsync, origDone = queueProto.onSubmittedWorkDone;
  bufferProto.mapAsync = function (this: unknown, ...a: unknown[]) { counts.mapAsync++; return origMap.apply(this, a); };
  queueProto.onSubmittedWorkDone = function (this: unknown, ...a: unknown[]) { counts.onSubmittedWorkDone++; return origDone.apply(this, a); };
  try {
    await fn();
  } finally {
    bufferProto.mapAsync = origMap;
    queueProto.onSubmittedWorkDone = origDone;
  }
  return counts;
}

async function readBack(ctx: GpuContext, buffer: GPUBuffer, bytes: number): Promise<Float32Array> {
  const dev = ctx.device;
  const rb = dev.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, rb, 0, bytes);
  dev.queue.submit([enc.finish()]);
  await rb.mapAsync(MAP_READ_MODE);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  rb.destroy();
  return out;
}

interface LoopCase { key: string; value: string; nKvHeads: number; nHeads: number; headDim: number; window: number; sinks: number; prefill: number[]; steps: number }

// 2 sequences of different lengths; the steps cross tile seals (every 32 tokens past the window)
const cases: LoopCase[] = [
  { key: 'kivi2', value: 'kivi2', nKvHeads: 2, nHeads: 8, headDim: 64, window: 4, sinks: 1, prefill: [70, 37], steps: 36 },
  { key: 'q4_0', value: 'kivi4', nKvHeads: 2, nHeads: 2, headDim: 64, window: 0, sinks: 0, prefill: [33, 64], steps: 34 },
  { key: 'fp16', value: 'q8_0', nKvHeads: 1, nHeads: 3, headDim: 32, window: 8, sinks: 2, prefill: [5, 90], steps: 33 },
];

describe('attendInto: zero-copy decode loop', () => {
  for (const c of cases) {
    it(`${c.key}/${c.value} ${c.nHeads}q/${c.nKvHeads}kv d${c.headDim}: no map or sync in the loop, bits equal to attendGpu`, async ({ skip }) => {
      const base = gpu(); if (!base) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
      // the caller's own GPUDevice, wrapped in a context of its own
      const ctx = await getGpuDevice({ device: base.device });
      const dev = ctx.device;
      const opts = { nKvHeads: c.nKvHeads, headDim: c.headDim, key: c.key, value: c.value, window: c.window, sinks: c.sinks, gpu: ctx };
      const viaHost = await GpuKvCache.create(opts);
      const zeroCopy = await GpuKvCache.create(opts);
      const tf = c.nKvHeads * c.headDim, B = c.prefill.length, qFloats = B * c.nHeads * c.headDim;
      const seqs = c.prefill.map((_, i) => i);
      // all data up front: per sequence prefill K/V, per step K/V rows and queries
      const pre = c.prefill.map((n, s) => ({ K: gaussianKv(n, c.nKvHeads, c.headDim, 11 + s), V: gaussianKv(n, c.nKvHeads, c.headDim, 21 + s) }));
      const stepK = gaussianKv(c.steps * B, c.nKvHeads, c.headDim, 31);
      const stepV = gaussianKv(c.steps * B, c.nKvHeads, c.headDim, 41);
      const stepQ = randomQuery(c.steps * B * c.nHeads, c.headDim, 51);
      const usage = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
      const kvBuf = dev.createBuffer({ size: stepK.byteLength * 2, usage });
      writeArray(dev.queue, kvBuf, 0, stepK);
      writeArray(dev.queue, kvBuf, stepK.byteLength, stepV);
      // queries at a non-zero offset, outputs too: the offsets are part of the contract
      const qBase = 256;
      const qBuf = dev.createBuffer({ size: qBase + stepQ.byteLength, usage });
      writeArray(dev.queue, qBuf, qBase, stepQ);
      const outBase = 64;
      const outBuf = dev.createBuffer({ size: outBase + c.steps * qFloats * 4, usage });
      try {
        for (const s of seqs) {
          await viaHost.append(s, pre[s]!.K, pre[s]!.V);
          const src = dev.createBuffer({ size: pre[s]!.K.byteLength * 2, usage });
          writeArray(dev.queue, src, 0, pre[s]!.K);
          writeArray(dev.queue, src, pre[s]!.K.byteLength, pre[s]!.V);
          await zeroCopy.appendFromGpu(s, { buffer: src }, { buffer: src, offset: pre[s]!.K.byteLength }, c.prefill[s]!);
          src.destroy();
        }

        // ---- zero-copy loop: one encoder per step (append every sequence, then attend), counted
        const counts = await countSyncs(dev, async () => {
          for (let t = 0; t < c.steps; t++) {
            const enc = dev.createCommandEncoder({ label: 'decode-step' });
            for (const s of seqs) {
              const row = (t * B + s) * tf * 4;
              await zeroCopy.appendFromGpuInto(enc, s, { buffer: kvBuf, offset: row }, { buffer: kvBuf, offset: stepK.byteLength + row }, 1);
            }
            await attendInto(enc, zeroCopy, seqs, {
              queries: { buffer: qBuf, offset: qBase + t * qFloats * 4 },
              output: { buffer: outBuf, offset: outBase + t * qFloats * 4 },
              nHeads: c.nHeads,
            });
            dev.queue.submit([enc.finish()]);
          }
        });
        expect(counts).toEqual({ mapAsync: 0, onSubmittedWorkDone: 0 });
        const all = await readBack(ctx, outBuf, outBase + c.steps * qFloats * 4);

        // ---- Float32Array path over an identical cache: the same bits every step (and the
        // counter sees its one readback per step, so the zero counts above are not blindness)
        const hostCounts = await countSyncs(dev, async () => { for (let t = 0; t < c.steps; t++) {
          for (const s of seqs) {
            const r = (t * B + s) * tf;
            await viaHost.append(s, stepK.subarray(r, r + tf), stepV.subarray(r, r + tf));
          }
          const q = stepQ.subarray(t * qFloats, (t + 1) * qFloats);
          const want = await attendGpu(viaHost, seqs, q, c.nHeads);
          const got = all.subarray(outBase / 4 + t * qFloats, outBase / 4 + (t + 1) * qFloats);
          expect(Array.from(new Uint32Array(got.slice().buffer)), `step ${t}`).toEqual(Array.from(new Uint32Array(want.buffer)));
        } });
        expect(hostCounts.mapAsync).toBe(c.steps);
        for (const s of seqs) expect(zeroCopy.length(s)).toBe(c.prefill[s]! + c.steps);
      } finally {
        viaHost.destroy();
        zeroCopy.destroy();
        for (const b of [kvBuf, qBuf, outBuf]) b.destroy();
      }
    }, 120_000);
  }

  it('rejects bad slices, missing usages and a second call per encoder with typed errors', async ({ skip }) => {
    const ctx = gpu(); if (!ctx) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)');
    const dev = ctx.device;
    const cache = await GpuKvCache.create({ nKvHeads: 2, headDim: 16, key: 'kivi2', value: 'kivi2', gpu: ctx });
    await cache.append(0, gaussianKv(40, 2, 16, 1), gaussianKv(40, 2, 16, 2));
    const bytes = 4 * 16 * 4;
    const ok = dev.createBuffer({ size: 1024, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
    const noSrc = dev.createBuffer({ size: 1024, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST });
    const small = dev.createBuffer({ size: bytes - 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
    const expectErr = async (p: Promise<unknown>, code: string, arg: string): Promise<void> => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KvpackError);
      expect({ code: (err as KvpackError).code, arg: (err as KvpackError).arg }).toEqual({ code, arg });
    };
    const enc = dev.createCommandEncoder();
    await expectErr(attendInto(enc, cache, [0], { queries: { buffer: noSrc }, output: { buffer: ok }, nHeads: 4 }), 'BAD_PARAM', 'queries');
    await expectErr(attendInto(enc, cache, [0], { queries: { buffer: ok, offset: 2 }, output: { buffer: ok }, nHeads: 4 }), 'BAD_PARAM', 'queries');
    await expectErr(attendInto(enc, cache, [0], { queries: { buffer: ok }, output: { buffer: small }, nHeads: 4 }), 'BAD_SHAPE', 'output');
    await expectErr(attendInto(enc, cache, [0], { queries: { buffer: ok }, output: { buffer: ok }, nHeads: 3 }), 'BAD_SHAPE', 'nHeads');
    await expectErr(attendInto(enc, cache, [5], { queries: { buffer: ok }, output: { buffer: ok }, nHeads: 4 }), 'UNKNOWN_SEQUENCE', 'seqs');
    await attendInto(enc, cache, [0], { queries: { buffer: ok }, output: { buffer: ok, offset: bytes }, nHeads: 4 });
    await expectErr(attendInto(enc, cache, [0], { queries: { buffer: ok }, output: { buffer: ok, offset: bytes }, nHeads: 4 }), 'BAD_PARAM', 'encoder');
    await expectErr(cache.appendFromGpuInto(enc, 0, { buffer: noSrc }, { buffer: ok }, 1), 'BAD_PARAM', 'keys');
    dev.queue.submit([enc.finish()]);
    // the first call's output: finite, so the recorded work ran
    const out = (await readBack(ctx, ok, 2 * bytes)).subarray(16 * 4);
    expect(out.every(Number.isFinite)).toBe(true);
    cache.destroy();
    for (const b of [ok, noSrc, small]) b.destroy();
  });
});
