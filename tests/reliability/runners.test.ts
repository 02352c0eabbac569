/**
 * No hangs (issue 18): the Deno runner (tests/deno/run.mjs) fails fast, naming the packages,
 * where Linux has no Vulkan driver (before: a conformance script ran 28 min at 95% CPU with no
 * output), and stops a script at its time limit.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ES module without types
import { missingVulkan } from '../deno/run.mjs';

const runner = fileURLToPath(new URL('../deno/run.mjs', import.meta.url));

describe('tests/deno/run.mjs', () => {
  it('without a Vulkan loader and driver: exits 1 at once naming the packages; with them: finds both', () => {
    const missing = (missingVulkan as (e: NodeJS.ProcessEnv) => string[] | undefined)(process.env);
    if (missing) {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [runner], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KVPACK_DENO_SKIP_VULKAN_CHECK: '' } });
      expect(r.status).toBe(1);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.stderr).toMatch(/mesa-vulkan-drivers/);
      expect(r.stderr).toMatch(/libvulkan1|lavapipe/);
    } else {
      // the CI machine installs mesa-vulkan-drivers and libvulkan1 (.ci/run)
      expect(missing).toBeUndefined();
    }
  });

  it('a script past KVPACK_DENO_TIMEOUT_S is killed and reported', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [runner, 'no-such-case'], {
      encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, KVPACK_DENO_SKIP_VULKAN_CHECK: '1', KVPACK_DENO_TIMEOUT_S: '0.3' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/did not finish within 0.3 s \(KVPACK_DENO_TIMEOUT_S\) and was killed/);
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, 130_000);
});
