/**
 * WGSL plumbing: the embedded shader module is in sync with wgsl/, and the bit-exact helpers the
 * encoders rely on (f32 -> f16 by integer code, correctly rounded division) agree with the TS
 * reference on edge values, run on the GPU. Needs an adapter like webgpu.test.ts (fails without
 * one unless KVPACK_ALLOW_NO_GPU=1).
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../../ts/format/f16.js';
import { metaF16Bits } from '../../ts/codecs/uniform.js';
import { BufferUsage, getGpuDevice, MAP_READ_MODE, writeArray, type GpuContext } from '../../ts/backends/webgpu/device.js';
import { wgslFile } from '../../ts/backends/webgpu/shaders.js';
import { WGSL_BY_NAME as WGSL_KERNELS } from '../helpers/wgsl-kernels.js';
import { WGSL_SOURCES } from '../../ts/backends/webgpu/shaders.generated.js';
import { makeRng } from '../helpers/data.js';

describe('embedded WGSL', () => {
  it('shaders.generated.ts matches wgsl/ (run node scripts/gen-wgsl.mjs after editing .wgsl)', () => {
    expect(() => execFileSync(process.execPath, ['scripts/gen-wgsl.mjs', '--check'], { stdio: 'pipe', timeout: 60_000 })).not.toThrow();
  });
  it('every kernel table entry points at embedded files', () => {
    for (const [name, k] of Object.entries(WGSL_KERNELS)) {
      expect(WGSL_SOURCES[k.attend], `${name} attend`).toContain(`fn ${k.keyChunk}(`);
      expect(WGSL_SOURCES[k.attend], `${name} attend`).toContain(`fn ${k.valueChunk}(`);
      expect(WGSL_SOURCES[k.encode], `${name} encode`).toMatch(/fn encode_key\(.*\n?[\s\S]*fn encode_value\(/);
      if (k.fold) expect(WGSL_SOURCES[k.fold.file], `${name} fold`).toContain('fn fold_key_batch(');
      if (k.words) expect(WGSL_SOURCES[k.words.file], `${name} words`).toContain(`fn ${k.words.keyChunk}(`);
    }
  });
});

const allowNoGpu = process.env.KVPACK_ALLOW_NO_GPU === '1';
let ctx: GpuContext | undefined;
let unavailable: string | undefined;
beforeAll(async () => {
  try { ctx = await getGpuDevice(); } catch (e) { unavailable = (e as Error).message; }
});

/** Runs `fn(x, y) -> u32` of the helper files over pairs of f32 on the GPU. */
async function runHelper(body: string, a: Float32Array, b: Float32Array): Promise<Uint32Array> {
  const dev = ctx!.device;
  const code = [wgslFile('constants.wgsl'), wgslFile('common/f16.wgsl'), wgslFile('common/f32div.wgsl'), `
@group(0) @binding(0) var<storage, read> xa: array<f32>;
@group(0) @binding(1) var<storage, read> xb: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
fn helper(x: f32, y: f32) -> u32 { ${body} }
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&out)) { out[id.x] = helper(xa[id.x], xb[id.x]); }
}`].join('\n');
  const pipe = await dev.createComputePipelineAsync({ layout: 'auto', compute: { module: dev.createShaderModule({ code }), entryPoint: 'main' } });
  const mk = (data: Float32Array) => {
    const buf = dev.createBuffer({ size: data.byteLength, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST });
    writeArray(dev.queue, buf, 0, data);
    return buf;
  };
  const ba = mk(a), bb = mk(b);
  const out = dev.createBuffer({ size: a.byteLength, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
  const rb = dev.createBuffer({ size: a.byteLength, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, dev.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [ba, bb, out].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
  pass.dispatchWorkgroups(Math.ceil(a.length / 64));
  pass.end();
  enc.copyBufferToBuffer(out, 0, rb, 0, a.byteLength);
  dev.queue.submit([enc.finish()]);
  await rb.mapAsync(MAP_READ_MODE);
  const res = new Uint32Array(rb.getMappedRange().slice(0));
  for (const b of [ba, bb, out, rb]) b.destroy();
  return res;
}

function bitsToF32(bits: number[]): number[] {
  const u = new Uint32Array(bits), f = new Float32Array(u.buffer);
  return [...f];
}

describe('WGSL bit-exact helpers on the GPU', () => {
  it('f32_to_f16_bits and meta_f16_bits equal ts/format/f16.ts (ties, subnormals, overflow, random)', async ({ skip }) => {
    if (!ctx) { if (allowNoGpu) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)'); throw new Error(`no WebGPU adapter: ${unavailable}`); }
    const rng = makeRng(7);
    const edge = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e9, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -26, 2 ** -14, 2 ** -14 * 0.75,
      1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 6.1e-5, 5.96e-8, 1e-30, Infinity, -Infinity];
    const vals = [...edge, ...bitsToF32([0x7fc00000, 0x7f800001, 0x00000001, 0x807fffff])];
    for (let i = 0; i < 4000; i++) vals.push((rng.gaussian() * 2 ** (rng.int(60) - 30)));
    // values on exact f16 ties: f16 grid midpoints
    for (let i = 0; i < 500; i++) vals.push((1 + (2 * rng.int(1024) + 1) / 2048) * 2 ** (rng.int(40) - 24));
    const x = new Float32Array(vals);
    const got = await runHelper('return f32_to_f16_bits(x);', x, x);
    const gotMeta = await runHelper('return meta_f16_bits(x);', x, x);
    const bad: string[] = [];
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i]!)) continue; // meta saturation of NaN is not a case codecs meet (inputs are checked finite)
      if (got[i] !== f32ToF16Bits(x[i]!)) bad.push(`f16(${x[i]}) gpu ${got[i]} ts ${f32ToF16Bits(x[i]!)}`);
      if (gotMeta[i] !== metaF16Bits(x[i]!)) bad.push(`meta(${x[i]}) gpu ${gotMeta[i]} ts ${metaF16Bits(x[i]!)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
    // NaN keeps a quiet-NaN encoding
    expect(got[edge.length]! & 0x7c00).toBe(0x7c00);
  });

  it('div_rn is correctly rounded (equals Math.fround(a / b)) incl. near-ties, normals only', async ({ skip }) => {
    if (!ctx) { if (allowNoGpu) return skip('webgpu: unavailable (KVPACK_ALLOW_NO_GPU=1)'); throw new Error(`no WebGPU adapter: ${unavailable}`); }
    const rng = makeRng(11);
    const a: number[] = [], b: number[] = [];
    const push = (x: number, y: number) => { a.push(x); b.push(y); };
    for (const [x, y] of [[1, 3], [2, 3], [-5, 7], [127, 127], [1e-30, 3], [3e38, 0.5], [0, 5], [-0, 5], [1, -8], [7.5, 0.5], [100, 127], [1, 1e-38]]) push(x!, y!);
    for (let i = 0; i < 20000; i++) push(rng.gaussian() * 2 ** (rng.int(40) - 20), (rng.gaussian() || 1) * 2 ** (rng.int(40) - 20));
    // quotients that land next to code boundaries k + 0.5 (what the encoders round)
    for (let i = 0; i < 5000; i++) {
      const s = Math.fround((rng.uniform() + 0.5) * 2 ** (rng.int(20) - 10));
      const k = rng.int(255) - 127 + 0.5;
      push(Math.fround(s * k), s);
      push(Math.fround(s * k * (1 + 2 ** -23)), s);
      push(Math.fround(s * k * (1 - 2 ** -23)), s);
    }
    const fa = new Float32Array(a), fb = new Float32Array(b);
    const got = new Float32Array((await runHelper('return bitcast<u32>(div_rn(x, y));', fa, fb)).buffer);
    const bad: string[] = [];
    for (let i = 0; i < fa.length; i++) {
      const want = Math.fround(fa[i]! / fb[i]!);
      // results below 2^-126 are flushed to zero by design (see common/f32div.wgsl)
      const expected = Math.abs(want) < 2 ** -126 ? 0 : want;
      if (!Object.is(got[i], expected) && !(expected === 0 && got[i] === 0)) bad.push(`${fa[i]} / ${fb[i]}: gpu ${got[i]} want ${expected}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});
