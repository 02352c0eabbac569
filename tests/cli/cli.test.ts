import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../ts/cli/main.js';
import { COMMANDS } from '../../ts/cli/commands.js';
import { captureIo as capture } from '../helpers/cli-io.js';
import type { DemoResult } from '../../ts/demo/run.js';

describe('kvpack dispatcher', () => {
  it('--help lists every registered command; no command is usage error 2', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    for (const c of COMMANDS) expect(io.stdout).toContain(c.name);
    expect(await main([], capture())).toBe(2);
  });

  it('every registered command loads and exports run()', async () => {
    for (const c of COMMANDS) {
      const mod = await c.load();
      expect(typeof mod.run, c.name).toBe('function');
      const io = capture();
      expect(await main([c.name, '--help'], io), c.name).toBe(0);
      expect(io.stdout).toContain(`kvpack ${c.name}`);
    }
  });

  it('unknown command and unknown flag exit 2 with the name on stderr', async () => {
    const a = capture();
    expect(await main(['frobnicate'], a)).toBe(2);
    expect(a.stderr).toMatch(/unknown command 'frobnicate'/);
    const b = capture();
    expect(await main(['demo', '--tokns', '5'], b)).toBe(2);
    expect(b.stderr).toMatch(/BAD_PARAM: --tokns: unknown flag/);
    const c = capture();
    expect(await main(['demo', '--head-dim', '12', '--tokens', '40', '--backend', 'ts'], c)).toBe(1);
    expect(c.stderr).toMatch(/BAD_PARAM: headDim/);
  });

  it('backends prints a report; a requested but missing backend exits 1 with BACKEND_UNAVAILABLE', async () => {
    const io = capture();
    expect(await main(['backends', '--json'], io)).toBe(0);
    const report = JSON.parse(io.stdout) as { chosen: string; attempts: { name: string }[] };
    expect(report.attempts.map((a) => a.name)).toEqual(['webgpu', 'wasm', 'ts']);
    const forced = capture({ KVPACK_BACKEND: 'ts' });
    expect(await main(['backends'], forced)).toBe(0);
    expect(forced.stdout).toMatch(/chosen: ts/);
    expect(forced.stdout).toMatch(/requested by env KVPACK_BACKEND/);
    const bad = capture({ KVPACK_BACKEND: 'tpu' });
    expect(await main(['backends'], bad)).toBe(1);
    expect(bad.stderr).toMatch(/BAD_PARAM: KVPACK_BACKEND/);
  });

  it('demo prints the table, progress on stderr, and writes JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpack-cli-'));
    const json = join(dir, 'demo.json');
    const io = capture();
    const code = await main(['demo', '--tokens', '100', '--heads', '4', '--kv-heads', '2', '--head-dim', '16',
      '--steps', '2', '--backend', 'ts', '--codecs', 'fp32,kivi2,kivi4/kivi2', '--json', json], io);
    expect(code, io.stderr).toBe(0);
    expect(io.stdout).toMatch(/codec \(K\/V\)\s+bits\/elem\s+x fp16\s+x fp32\s+rel err/);
    expect(io.stdout).toMatch(/^kivi4\/kivi2\s/m);
    expect(io.stdout).not.toMatch(/packing/);
    expect(io.stderr).toMatch(/\[3\/3\] kivi4\/kivi2: packing 100 tokens/);
    const doc = JSON.parse(readFileSync(json, 'utf8')) as DemoResult & { machine: { cores: number }; backendReport: { chosen: string } };
    expect(doc.rows.map((r) => r.label)).toEqual(['fp32', 'kivi4/kivi2', 'kivi2']);
    expect(doc.backendReport.chosen).toBe('ts');
    expect(doc.machine.cores).toBeGreaterThan(0);
  });

  it('demo rejects an unknown codec before doing work', async () => {
    const io = capture();
    expect(await main(['demo', '--tokens', '64', '--codecs', 'kivi3', '--backend', 'ts'], io)).toBe(1);
    expect(io.stderr).toMatch(/UNKNOWN_CODEC/);
    expect(io.stderr).not.toMatch(/packing/);
  });
});
