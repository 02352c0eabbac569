/**
 * kvpack in the browser: the synthetic demo (`kvpack demo`) running in the page on WASM SIMD, or
 * on WebGPU where the adapter is a real GPU (a software adapter such as SwiftShader loses to WASM
 * SIMD and is skipped unless asked for with ?backend=webgpu). Shows the table and two inline SVG
 * plots: attention error vs bits per element, and ms per decode step.
 * URL parameters: backend=wasm|webgpu|ts, tokens, heads, kvHeads, headDim, steps, codecs (a,b/c).
 * The result is left on window.kvpackDemo and document.body.dataset.state ('done' / 'error').
 */
import '../../ts/codecs/index.js';
import { listCodecs } from '../../ts/codecs/registry.js';
import { chooseBackend } from '../../ts/backends/detect.js';
import type { BackendName } from '../../ts/backends/types.js';
import { defaultSelection, parsePairings } from '../../ts/demo/pairings.js';
import { runDemo, type DemoConfig, type DemoResult } from '../../ts/demo/run.js';
import { plotSvg } from './plot.js';

const params = new URLSearchParams(location.search);
const int = (name: string, d: number) => (params.has(name) ? Number.parseInt(params.get(name)!, 10) : d);
const status = document.getElementById('status')!;
const say = (line: string) => { status.textContent = line; };

async function main(): Promise<void> {
  const config: DemoConfig = {
    tokens: int('tokens', 2048), nHeads: int('heads', 16), nKvHeads: int('kvHeads', 4), headDim: int('headDim', 128),
    window: 32, sinks: 0, steps: int('steps', 4), seed: 1, calibrationTokens: 256, maxPackSeconds: 60,
  };
  const codecs = params.get('codecs');
  // the slow-to-pack calibrated families stay out of the default page (seconds each in TS)
  const pairings = codecs ? parsePairings(codecs.split(','))
    : defaultSelection(listCodecs()).pairings.filter((p) => !/^(cq|qaq)/.test(p.key) && !/^(cq|qaq)/.test(p.value));
  const prefer = (params.get('backend') ?? undefined) as BackendName | undefined;
  const { backend, report } = await chooseBackend({ ...(prefer ? { prefer } : {}), log: say });
  document.getElementById('backend')!.textContent = `${report.chosen}: ${report.description} (${report.why})`;
  const result = await runDemo(config, pairings, backend, { progress: say });
  backend.dispose();
  render(result);
  say(`done: ${result.rows.length} codecs on ${result.backend.name}`);
  (window as unknown as { kvpackDemo: unknown }).kvpackDemo = { result, report };
  document.body.dataset.state = 'done';
}

function render(r: DemoResult): void {
  const c = r.config;
  document.getElementById('workload')!.textContent =
    `${c.tokens} tokens, ${c.nHeads} query heads / ${c.nKvHeads} KV heads x head_dim ${c.headDim}, window ${c.window}, ${c.steps} decode steps`;
  const rows = r.rows.map((x) => `<tr><td>${x.label}</td><td>${x.effectiveBits.toFixed(2)}</td><td>${x.ratioVsFp16.toFixed(2)}</td>` +
    `<td>${x.relError.toPrecision(3)}</td><td>${x.msPerStep.toFixed(2)}</td><td>${x.backend}</td></tr>`).join('');
  document.getElementById('table')!.innerHTML =
    `<table><thead><tr><th>codec (K/V)</th><th>bits/elem</th><th>x fp16</th><th>rel err</th><th>ms/step</th><th>backend</th></tr></thead><tbody>${rows}</tbody></table>`;
  document.getElementById('plot')!.innerHTML = plotSvg(r.rows);
}

main().catch((e: unknown) => {
  say(`error: ${(e as Error).message}`);
  document.body.dataset.state = 'error';
  (window as unknown as { kvpackError: string }).kvpackError = String((e as Error).stack ?? e);
});
