import { describe, expect, it } from 'vitest';
import { main } from '../../ts/cli/main.js';
import { captureIo as capture } from '../helpers/cli-io.js';

describe('kvpack start (npm start)', () => {
  it('says so, and succeeds, when no real model is present', async () => {
    const io = capture({ KVPACK_MODEL: '/nonexistent/model', KVPACK_TEXT: '/nonexistent/text' });
    expect(await main(['start', '--skip-demo'], io)).toBe(0);
    expect(io.stderr).toContain('2/3 skipped: no real model/text');
    expect(io.stdout).toBe('');
  });

  it('rejects unknown arguments with exit code 2', async () => {
    const io = capture();
    expect(await main(['start', '--bogus'], io)).toBe(2);
    expect(io.stderr).toContain('unknown argument --bogus');
  });

  it('runs the real-model evaluation when the model and text exist', async () => {
    const io = capture({
      KVPACK_MODEL: '../shared/models/stories260K',
      KVPACK_TEXT: '../shared/data/tinystories-valid-sample/TinyStories-valid.txt',
      KVPACK_START_CODECS: 'fp32,kivi4',
      KVPACK_REAL_MODEL: '/nonexistent/model',
    });
    // Only the cheap part (no demo, two codecs): eval itself is covered in tests/model.
    const code = await main(['start', '--skip-demo'], io);
    expect(code).toBe(0);
    expect(io.stdout).toMatch(/\| fp32 +\|/);
    expect(io.stdout).toMatch(/\| kivi4 +\|/);
    expect(io.stdout).not.toMatch(/\| q8_0 +\|/);
    expect(io.stderr).toContain('3/3 skipped: no realistic model');
  }, 300_000);

  it('then evaluates the realistic model (gutenberg-bytes-9M, ctx 1024) calibrated on its training text', async () => {
    const io = capture({
      KVPACK_MODEL: '../shared/models/stories260K',
      KVPACK_TEXT: '../shared/data/tinystories-valid-sample/TinyStories-valid.txt',
      KVPACK_START_CODECS: 'fp32',
      KVPACK_REAL_CODECS: 'fp32,kivi2@w128',
    });
    expect(await main(['start', '--skip-demo'], io)).toBe(0);
    expect(io.stderr).toContain('3/3 realistic model (head_dim 64, GQA)');
    expect(io.stdout).toMatch(/\| kivi2@w128 +\|/);
    expect(io.stdout).toContain('ctx 1024, 2 windows x 1023 predictions');
    expect(io.stdout).toContain('6/2 heads, head_dim 64');
  }, 300_000);
});
