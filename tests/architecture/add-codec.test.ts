/**
 * The recipe of docs/ARCHITECTURE.md "Adding a codec", checked: a throwaway codec
 * (tests/fixtures/toy-codec/: index.ts with the reference and registerCodec, kernels.ts with its
 * kernel descriptor) is registered by importing it, and the conformance matrix checks it on every
 * backend whose kernels it names, without any list being edited.
 */
import { describe, expect, it } from 'vitest';
import '../../ts/codecs/index.js';
import { listCodecs } from '../../ts/codecs/registry.js';
import { CONFORMANCE_SHAPES, conformancePairs, runConformance } from '../../ts/conformance/matrix.js';
import { conformanceBackends } from '../../ts/conformance/backends.js';
import { wasmKernelsFor } from '../../ts/backends/wasm-kernels.js';
import { ToyCodec } from '../fixtures/toy-codec/index.js';

describe('adding a codec', () => {
  it('is registered by its own module and listed by the matrix', () => {
    expect(listCodecs().map((c) => c.name)).toContain('toy-f32');
    expect(conformancePairs().pairs.map((p) => p.name)).toContain('toy-f32');
    const codec = new ToyCodec({ kind: 'key', headDim: 8, nKvHeads: 1 });
    expect(wasmKernelsFor(codec)).toEqual({ encode: 'encode_fp32', score: 'score_fp32' });
  });

  it('runs on TS and WASM through its descriptor: words bit-identical, attention within tolerance', async () => {
    const report = await runConformance({ backends: conformanceBackends(['ts', 'wasm']), codecs: ['toy-f32'], mixed: false });
    const cells = report.cells.filter((c) => c.pair === 'toy-f32');
    expect(cells.length).toBe(2 * CONFORMANCE_SHAPES.length); // 2 backends x every shape
    expect(cells.every((c) => c.status === 'pass'), JSON.stringify(cells)).toBe(true);
    expect(cells.filter((c) => c.backend === 'wasm').every((c) => (c.tiles ?? 0) > 0 && c.tileMismatches === 0)).toBe(true);
  }, 120_000);
});
