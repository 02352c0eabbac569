import type { CliIo } from './command.js';

/** Seconds between plain progress lines when stderr is not a terminal (CI logs, files). */
export const PLAIN_PROGRESS_SECONDS = 10;

/**
 * Progress on stderr for the long-running model commands (eval, capture). On a terminal
 * (io.errIsTty): one `\r`-redrawn bar, at most 4 frames a second. Elsewhere (a CI log, a file):
 * a plain line every PLAIN_PROGRESS_SECONDS and one when a phase ends, never carriage returns.
 */
export class ProgressBar {
  private last = 0;
  private printedDone = false;
  private start = performance.now();
  constructor(private readonly io: CliIo, private label: string, private total: number, private readonly width = 30) {}

  /** Starts a new phase on the same line (e.g. the next codec). */
  reset(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.last = 0;
    this.printedDone = false;
    this.start = performance.now();
  }

  update(done: number, extra = ''): void {
    const now = performance.now();
    const tty = this.io.errIsTty === true;
    if (tty) {
      if (done < this.total && now - this.last < 250) return;
    } else {
      const finished = done >= this.total;
      if (finished ? this.printedDone : this.last !== 0 && now - this.last < PLAIN_PROGRESS_SECONDS * 1000) return;
      if (finished) this.printedDone = true;
    }
    this.last = now;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const fill = Math.round(frac * this.width);
    const secs = ((now - this.start) / 1000).toFixed(1);
    const line = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(this.width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${done}/${this.total} ${secs}s ${extra}`;
    if (tty) this.io.err(`\r${line.padEnd(79)}`); // pad: a shorter line must erase the previous one
    else this.io.err(`${line.trimEnd()}\n`);
  }

  done(): void {
    if (this.io.errIsTty === true) this.io.err('\n');
  }
}
