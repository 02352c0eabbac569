/**
 * Bundled by tests/runtimes/chromium.test.ts into a page: the conformance subset on the WASM
 * backend and on WebGPU (navigator.gpu; SwiftShader in headless Chromium), from the dist bundle.
 * Leaves { runtime, version, wasm, webgpu } on window.kvpackConformance.
 */
import * as kv from '../../dist/index.js';
import { runConformance } from './conformance.mjs';

async function main() {
  const version = (navigator.userAgent.match(/Chrom(?:e|ium)\/([\d.]+)/) ?? [])[1] ?? navigator.userAgent;
  const out = { runtime: 'chromium', version };
  const wasm = await kv.createWasmBackend();
  out.wasm = { description: wasm.description, build: wasm.wasm.build, ...(await runConformance(kv, wasm)) };
  wasm.dispose();
  try {
    const gpu = await kv.createWebGpuBackend();
    // SwiftShader compiles each pipeline for seconds (5-30 s a case on 2 cores): four cases that
    // put KIVI, q4_0/q8_0 and fp32 on both streams; the other pairs run on Dawn, wgpu and in Bun
    out.webgpu = { description: gpu.description, ...(await runConformance(kv, gpu, { pick: [0, 3, 4, 6] })) };
    gpu.dispose();
  } catch (e) {
    out.webgpu = { error: String(e && e.message || e) };
  }
  const { report } = await kv.chooseBackend({ probeAll: true });
  out.probe = report.attempts.map((a) => ({ name: a.name, ok: a.ok, reason: a.reason }));
  window.kvpackConformance = out;
}
main().catch((e) => { window.kvpackConformance = { fatal: String(e && e.stack || e) }; });
