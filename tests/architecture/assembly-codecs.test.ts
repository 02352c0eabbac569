/**
 * The AssemblyScript codec exports are generated (scripts/gen-assembly-codecs.mjs writes
 * assembly/codecs/index.ts from the folders of assembly/codecs/), so adding a codec's WASM
 * kernels needs no registry line: the generated file is up to date, covers every codec folder,
 * and a new folder shows up in it without any list being edited.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'scripts', 'gen-assembly-codecs.mjs');
const exportLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('export'));

describe('generated AssemblyScript codec exports (scripts/gen-assembly-codecs.mjs)', () => {
  it('assembly/codecs/index.ts is exactly what the generator writes now', () => {
    // throws (exit 1) when the file is stale
    execFileSync(process.execPath, [script, '--check'], { cwd: root, stdio: 'pipe', timeout: 60_000 });
  });

  it('exports every .ts file of every codec folder, and assembly/index.ts re-exports it once', () => {
    const generated = readFileSync(join(root, 'assembly/codecs/index.ts'), 'utf8');
    expect(generated.split('\n')[0]).toMatch(/generated.*do not edit/);
    const dir = join(root, 'assembly/codecs');
    const expected = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => readdirSync(join(dir, e.name)).filter((f) => f.endsWith('.ts')).map((f) => `export * from './${e.name}/${f.slice(0, -3)}';`));
    expect(expected).toContain("export * from './skvq/calibrate';");
    expect([...exportLines(generated)].sort()).toEqual(expected.sort());
    const entry = exportLines(readFileSync(join(root, 'assembly/index.ts'), 'utf8'));
    expect(entry.filter((l) => l.includes('./codecs/'))).toEqual(["export * from './codecs/index';"]);
  });

  it('picks up a new codec folder: registry import order first, then by name; kernels.ts first', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kvpack-gen-assembly-'));
    try {
      const put = (p: string, text = ''): void => {
        mkdirSync(join(tmp, p, '..'), { recursive: true });
        writeFileSync(join(tmp, p), text);
      };
      put('ts/codecs/index.ts', "import './zeta/index.js';\nimport './alpha/index.js';\n");
      put('assembly/codecs/shared-helper.ts'); // not a codec folder: not exported
      put('assembly/codecs/alpha/kernels.ts');
      put('assembly/codecs/zeta/calibrate.ts');
      put('assembly/codecs/zeta/kernels.ts');
      put('assembly/codecs/beta/kernels.ts'); // not registered in TS: after the registered ones
      put('assembly/codecs/empty/notes.md'); // no .ts file: no line
      const run = (...args: string[]): void => {
        execFileSync(process.execPath, [script, '--root', tmp, ...args], { stdio: 'pipe', timeout: 60_000 });
      };
      expect(() => run('--check')).toThrow(); // no generated file yet: stale
      run();
      expect(exportLines(readFileSync(join(tmp, 'assembly/codecs/index.ts'), 'utf8'))).toEqual([
        "export * from './zeta/kernels';",
        "export * from './zeta/calibrate';",
        "export * from './alpha/kernels';",
        "export * from './beta/kernels';",
      ]);
      run('--check');
      put('assembly/codecs/gamma/kernels.ts'); // a new codec folder makes the file stale
      expect(() => run('--check')).toThrow();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
