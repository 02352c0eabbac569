import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as C from '../../ts/format/constants.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string): string => readFileSync(`${root}/${p}`, 'utf8');

/** NAME -> value of every `(export )?const NAME: type = n;` line of a generated file. */
function parse(text: string, type: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^(?:export )?const ([A-Z0-9_]+): ${type} = (\\d+);$`, 'gm'))) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('generated constants (scripts/gen-constants.mjs)', () => {
  it('assembly/constants.ts and wgsl/constants.wgsl are exactly what the generator writes now', () => {
    // throws (exit 1) when either file is stale
    execFileSync(process.execPath, ['scripts/gen-constants.mjs', '--check'], { cwd: root, stdio: 'pipe', timeout: 60_000 });
  });

  it('both copies hold every numeric constant of ts/format/constants.ts with the same value', () => {
    const expected = new Map(Object.entries(C).filter(([, v]) => typeof v === 'number') as [string, number][]);
    expect(expected.get('TILE_TOKENS')).toBe(32);
    const as = read('assembly/constants.ts'), wgsl = read('wgsl/constants.wgsl');
    expect(as.split('\n')[0]).toMatch(/generated.*do not edit/);
    expect(wgsl.split('\n')[0]).toMatch(/generated.*do not edit/);
    expect(parse(as, 'i32')).toEqual(expected);
    expect(parse(wgsl, 'u32')).toEqual(expected);
  });
});
