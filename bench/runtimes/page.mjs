// Bundled into a page by bench/runtimes.mjs: the same loop as step.mjs, in Chromium.
import * as kv from '../../dist/index.js';
import { measure } from './measure.mjs';

const steps = Number(new URLSearchParams(location.search).get('steps') ?? 30);
const version = (navigator.userAgent.match(/Chrom(?:e|ium)\/([\d.]+)/) ?? [])[1] ?? navigator.userAgent;
measure(kv, steps).then(
  (r) => { window.kvpackBench = { runtime: 'chromium', version, ...r }; },
  (e) => { window.kvpackBench = { runtime: 'chromium', version, error: String(e && e.message || e) }; },
);
