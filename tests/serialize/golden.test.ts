/**
 * The committed file of today's format version still loads and attends to the outputs recorded
 * with it; today's writer still produces it byte for byte. If the second check fails you changed
 * the format: bump SAVE_FORMAT_VERSION (and keep reading version 1, or say why not), then
 * regenerate deliberately with `npm run gen:golden-cache`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deserializeCaches, inspectSavedCache, serializeCaches } from '../../ts/index.js';
import { GOLDEN_EXPECTED, GOLDEN_FILE, goldenCaches, goldenOutputs } from './golden.js';

describe('golden saved-cache file (format version 1)', () => {
  const bytes = new Uint8Array(readFileSync(GOLDEN_FILE));
  const expected = JSON.parse(readFileSync(GOLDEN_EXPECTED, 'utf8')) as { outputsF32Bits: number[][] };

  it('loads and attends to the recorded outputs, bit for bit', () => {
    const caches = deserializeCaches(bytes);
    expect(caches.map((c) => c.constructor.name)).toEqual(['PackedKvCache', 'PackedKvCache', 'QaqKvCache']);
    expect(goldenOutputs(caches)).toEqual(expected.outputsF32Bits);
    const info = inspectSavedCache(bytes);
    expect(info.status).toBe('ok');
    expect(info.layers.map((l) => `${l.key}/${l.value}`)).toEqual(['kivi2/kivi2', 'skvq-k2/skvq-v1.5', 'qaq/qaq']);
  });

  it("today's writer produces the same bytes from the same tokens", () => {
    expect(serializeCaches(goldenCaches())).toEqual(bytes);
  });
});
