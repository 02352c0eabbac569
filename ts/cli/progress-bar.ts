import type { CliIo } from './command.js';

/**
 * A one-line progress bar on stderr (`\r`-redrawn), throttled so logs stay small when stderr is
 * a file. Used by the long-running model commands (eval, capture).
 */
export class ProgressBar {
  private last = 0;
  private start = performance.now();
  constructor(private readonly io: CliIo, private label: string, private total: number, private readonly width = 30) {}

  /** Starts a new phase on the same line (e.g. the next codec). */
  reset(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.last = 0;
    this.start = performance.now();
  }

  update(done: number, extra = ''): void {
    const now = performance.now();
    if (done < this.total && now - this.last < 250) return;
    this.last = now;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const fill = Math.round(frac * this.width);
    const secs = ((now - this.start) / 1000).toFixed(1);
    const line = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(this.width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${done}/${this.total} ${secs}s ${extra}`;
    this.io.err(`\r${line.padEnd(79)}`); // pad: a shorter line must erase the previous one
  }

  done(): void {
    this.io.err('\n');
  }
}
