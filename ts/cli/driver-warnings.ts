/**
 * Dawn (the npm `webgpu` addon) prints adapter warnings straight to the process's stderr from
 * native code: "Warning: Couldn't load Vulkan: ..." with a source location on a machine without
 * a Vulkan loader, "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..."
 * for Mesa's GL adapter. They are about the driver, not about kvpack, and JS cannot redirect a
 * native fprintf(stderr). So the `kvpack` command runs itself as a child whose stderr passes
 * through this filter, which drops those blocks and nothing else; `--verbose` (or env
 * KVPACK_VERBOSE=1) runs without it.
 */

/** A Dawn warning block: its first line, then indented `at ...` / ` - While ...` lines and a blank. */
const BLOCK_START = /^Warning: /;
const BLOCK_MORE = /^(\s+at |\s+- While |\s*$)/;

/** Stateful line filter over stderr chunks; `write` receives what is kept. */
export class DriverWarningFilter {
  private pending = '';
  private inBlock = false;
  dropped = 0;
  constructor(private readonly write: (s: string) => void) {}

  push(chunk: string): void {
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      this.line(this.pending.slice(0, nl + 1));
      this.pending = this.pending.slice(nl + 1);
    }
    // a progress frame (`\r...`) or any partial line that cannot start a warning goes out now
    if (this.pending && !this.inBlock && !'Warning: '.startsWith(this.pending.slice(0, 9)) && !BLOCK_START.test(this.pending)) {
      this.write(this.pending);
      this.pending = '';
    }
  }

  end(): void {
    if (this.pending) this.line(this.pending);
    this.pending = '';
  }

  private line(l: string): void {
    if (BLOCK_START.test(l)) { this.inBlock = true; this.dropped++; return; }
    if (this.inBlock && BLOCK_MORE.test(l)) return;
    this.inBlock = false;
    this.write(l);
  }
}
