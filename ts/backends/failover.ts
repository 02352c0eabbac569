import { KvpackError } from '../errors.js';
import type { PackedKvCache } from '../cache/kv-cache.js';
import { attentionToleranceOf, type AttentionBackend, type BackendName } from './types.js';
import { checkAttendArgs } from './validate.js';
import { addSymbolDispose } from '../util/dispose.js';

/** One switch from a lost backend to the next. */
export interface FailoverEvent {
  from: BackendName;
  to: BackendName;
  reason: string;
}

/**
 * An AttentionBackend that moves to the next backend when the current one reports DEVICE_LOST
 * (the GPU was reset, the driver crashed, device.destroy()): the host PackedKvCache is the
 * source of truth, so the fallback (WASM) rebuilds its copy from it and the call that hit the
 * loss is answered from the same snapshot, giving what the fallback would have given all along.
 * `chooseBackend({ failover: true })` returns one when it picks WebGPU.
 */
export class FailoverBackend implements AttentionBackend {
  /** Every switch so far, oldest first. */
  readonly failovers: FailoverEvent[] = [];
  private active: AttentionBackend;
  private switching: Promise<AttentionBackend> | undefined;

  constructor(primary: AttentionBackend, private readonly makeFallback: () => Promise<AttentionBackend>,
    private readonly log: (line: string) => void = () => {}) {
    this.active = primary;
  }

  get name(): BackendName { return this.active.name; }
  get description(): string { return this.active.description; }
  /** The backend answering now. */
  get current(): AttentionBackend { return this.active; }

  async attend(cache: PackedKvCache, seqs: readonly number[], q: Float32Array, nHeads: number): Promise<Float32Array> {
    checkAttendArgs(cache, seqs, q, nHeads);
    // taken now: a retry on the fallback must see what the failed call would have seen
    const snap = cache.snapshot(seqs), ids = [...seqs], qc = q.slice();
    const backend = this.active;
    try {
      return await backend.attend(snap, ids, qc, nHeads);
    } catch (e) {
      if (!(e instanceof KvpackError && e.code === 'DEVICE_LOST')) throw e;
      return (await this.failOver(backend, e)).attend(snap, ids, qc, nHeads);
    }
  }

  private failOver(from: AttentionBackend, e: KvpackError): Promise<AttentionBackend> {
    if (this.active !== from) return Promise.resolve(this.active);
    this.switching ??= this.makeFallback().then((next) => {
      this.failovers.push({ from: from.name, to: next.name, reason: `${e.code}: ${e.message}` });
      this.log(`kvpack: backend ${from.name} lost (${e.message}); continuing on ${next.name} (${next.description}) from the host cache`);
      try { from.dispose(); } catch { /* a lost device may refuse even that */ }
      this.active = next;
      this.switching = undefined;
      return next;
    });
    return this.switching;
  }

  /** The tolerance of the backend answering now (after a switch: the fallback's). */
  attentionTolerance(cache: PackedKvCache, nHeads: number): number {
    return attentionToleranceOf(this.active, cache, nHeads);
  }

  dispose(): void {
    this.active.dispose();
  }
}

addSymbolDispose(FailoverBackend);
