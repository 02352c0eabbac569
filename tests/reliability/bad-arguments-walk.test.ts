/**
 * Types at the boundary, the rest of the public API (issue 18): the walk of
 * tests/reliability/argument-walk.mjs (calibration, model runner and capture, saving and
 * restoring, chooseBackend's options, QAQ's kernels, the GPU cache on Dawn) over ts/: every
 * wrong-typed argument or option field is BAD_PARAM / BAD_SHAPE, nothing changed.
 * scripts/reliability-probes.mjs runs the same walk over a build.
 */
import { describe, expect, it } from 'vitest';
import * as kv from '../../ts/index.js';
// @ts-expect-error: plain ES module without types
import { argumentWalk } from './argument-walk.mjs';

describe('public entries: wrong-typed arguments and option fields are BAD_PARAM / BAD_SHAPE', () => {
  it('the walk finds nothing', async () => {
    const { calls, problems } = await (argumentWalk as (k: typeof kv) => Promise<{ calls: number; problems: string[] }>)(kv);
    console.log(`argument walk: ${calls} calls, ${problems.length} not BAD_PARAM/BAD_SHAPE`);
    expect(calls).toBeGreaterThan(900);
    expect(problems).toEqual([]);
  }, 60_000);
});
