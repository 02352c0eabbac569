/** ProgressBar: redrawn frames on a terminal, plain periodic lines elsewhere (CI logs). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PLAIN_PROGRESS_SECONDS, ProgressBar } from '../../ts/cli/progress-bar.js';

function run(errIsTty: boolean): string {
  let t = 0;
  vi.spyOn(performance, 'now').mockImplementation(() => t);
  let err = '';
  const bar = new ProgressBar({ out: () => {}, err: (s) => { err += s; }, env: {}, errIsTty }, 'eval', 1000);
  for (let i = 1; i <= 1000; i++) { t += 100; bar.update(i); } // 100 s in 1,000 steps
  bar.done();
  return err;
}

describe('ProgressBar', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('not a terminal: no carriage returns, one line per period plus the final one', () => {
    const err = run(false);
    expect(err).not.toContain('\r');
    const lines = err.trimEnd().split('\n');
    // first update, then every PLAIN_PROGRESS_SECONDS over 100 s, then 1000/1000
    expect(lines.length).toBeLessThanOrEqual(100 / PLAIN_PROGRESS_SECONDS + 2);
    expect(lines.length).toBeGreaterThanOrEqual(100 / PLAIN_PROGRESS_SECONDS);
    expect(lines.at(-1)).toMatch(/100% 1000\/1000/);
  });

  it('a terminal: one redrawn line (\\r frames, at most 4 a second) and a newline at the end', () => {
    const err = run(true);
    const frames = err.split('\r').length - 1;
    expect(frames).toBeGreaterThan(100);
    expect(frames).toBeLessThanOrEqual(100 * 4 + 1);
    expect(err.endsWith('\n')).toBe(true);
    expect(err.trimEnd()).not.toContain('\n');
  });
});
