// Bundled into a page by bench/runtimes.mjs: the same loop as step.mjs, in Chromium.
import * as kv from '../../dist/index.js';
import { measure } from './measure.mjs';

const steps = Number(new URLSearchParams(location.search).get('steps') ?? 30);
// Chromium's other processes are busy for a few seconds after launch; on 2 cores they took CPU from
// the timed windows (1.3-2.0 ms/step against 0.7-0.9 for single steps; 0.8-1.0 after a 3 s wait)
const settleMs = Number(new URLSearchParams(location.search).get('settle') ?? 3000);
const version = (navigator.userAgent.match(/Chrom(?:e|ium)\/([\d.]+)/) ?? [])[1] ?? navigator.userAgent;
new Promise((r) => setTimeout(r, settleMs)).then(() => measure(kv, steps)).then(
  (r) => { window.kvpackBench = { runtime: 'chromium', version, ...r }; },
  (e) => { window.kvpackBench = { runtime: 'chromium', version, error: String(e && e.message || e) }; },
);
