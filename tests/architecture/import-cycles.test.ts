/**
 * No import cycle in ts/ (type-only and dynamic imports included: a cycle of types still ties
 * two folders together). madge resolves the sources' `./x.js` specifiers to `./x.ts` through
 * tsconfig.json; the fixture case shows it finds a cycle where there is one. At 214f37b it
 * found 5 (ts/backends/wasm-kernels.ts <-> ts/codecs/skvq/wasm.ts, ...).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import madge from 'madge';
import { describe, expect, it } from 'vitest';

const options = {
  fileExtensions: ['ts'],
  tsConfig: 'tsconfig.json',
  detectiveOptions: { ts: { skipTypeImports: false, skipAsyncImports: false } },
};

describe('import graph of ts/', () => {
  it('has no cycles', async () => {
    const graph = await madge('ts', options);
    const files = Object.keys(graph.obj());
    // the graph is real: every module is in it and .js specifiers resolved to .ts files
    expect(files.length).toBeGreaterThan(100);
    expect(graph.obj()['cache/kv-cache.ts']).toContain('codecs/registry.ts');
    expect(graph.circular()).toEqual([]);
  }, 120_000);

  it('finds a cycle where there is one (fixture)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-cycle-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport interface A { b?: B }\n");
      writeFileSync(join(dir, 'b.ts'), "import type { A } from './a.js';\nexport interface B { a?: A }\n");
      const graph = await madge(dir, options);
      expect(graph.circular()).toEqual([['a.ts', 'b.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
