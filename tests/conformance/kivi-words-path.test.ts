import { describe, expect, it } from 'vitest';
import { WGSL_BY_NAME as WGSL_KERNELS } from '../helpers/wgsl-kernels.js';
import { attendTilesSource, wordsBits } from '../../ts/backends/webgpu/shaders.js';

// Which codec pairs get the KIVI word-load attention (wgsl/kivi/words.wgsl). Its
// numerics are covered by the KIVI-2/4 cases of webgpu-cases.ts (Dawn and Deno), which run
// through the backend's selection; this pins the selection itself.
describe('KIVI word-load path selection', () => {
  const k = WGSL_KERNELS;
  it('selects KIVI-2/4 pairs of equal bits only', () => {
    expect(wordsBits(k.kivi2!, k.kivi2!)).toBe(2);
    expect(wordsBits(k.kivi4!, k.kivi4!)).toBe(4);
    expect(wordsBits(k.kivi2!, k.kivi4!)).toBeUndefined();
    expect(wordsBits(k.kivi8!, k.kivi8!)).toBeUndefined();
    expect(wordsBits(k.kivi2!, k.fp16!)).toBeUndefined();
    expect(wordsBits(k.q4_0!, k.q4_0!)).toBeUndefined();
  });
  it('builds the vec4 page view with word-load hooks, and the generic source on request', () => {
    const fast = attendTilesSource(k.kivi2!, k.kivi2!);
    expect(fast).toContain('var<storage, read> pages: array<vec4<u32>>;');
    expect(fast).toContain('return kivi_words_key_chunk(base, t, c8);');
    expect(fast).not.toContain('fn read_code(');
    const generic = attendTilesSource(k.kivi2!, k.kivi2!, { generic: true });
    expect(generic).toContain('var<storage, read> pages: array<u32>;');
    expect(generic).toContain('return kivi_key_chunk(base, t, c8);');
    expect(attendTilesSource(k.kivi2!, k.kivi8!)).toContain('var<storage, read> pages: array<u32>;');
  });
});
