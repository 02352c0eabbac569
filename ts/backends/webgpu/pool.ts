import { KvpackError } from '../../errors.js';
import { BufferUsage, type GpuContext } from './device.js';

/** A unit (a page, or a sequence's fp rows) inside one of a pool's GPU buffers. */
export interface SlabRef {
  buffer: number;
  index: number;
  /** u32 word offset of the unit in its buffer. */
  offsetWords: number;
}

/**
 * Fixed-size units in a growing list of GPU storage buffers, each no larger than
 * maxStorageBufferBindingSize (128 MiB on the CI software adapter, 2 GiB+ on big GPUs) so any
 * buffer can be bound whole. Buffers are never resized or copied: a long cache simply spans
 * several buffers and the attention dispatches once per buffer (partials merge).
 * Buffer i holds min(maxUnits, first * 2^i) units (first = 1 unless reserved), so a short cache
 * does not reserve 128 MiB, and a cache whose owner knows its size up front (GpuCacheOptions
 * .reserveTokens) gets one buffer, i.e. one attention dispatch (decisions.md#D151).
 */
export class SlabPool {
  readonly unitWords: number;
  readonly maxUnitsPerBuffer: number;
  readonly buffers: GPUBuffer[] = [];
  private readonly capacity: number[] = [];
  private readonly used: number[] = [];
  private readonly free: SlabRef[] = [];
  /** Units of the first buffer (later ones double it), at most maxUnitsPerBuffer. */
  readonly firstUnits: number;

  constructor(private readonly ctx: GpuContext, unitWords: number, private readonly label: string, unitsPerBuffer?: number,
    firstUnits = 1) {
    this.unitWords = unitWords;
    const maxBytes = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    const fit = Math.floor(maxBytes / (unitWords * 4));
    if (fit < 1) {
      throw new KvpackError('BACKEND_UNAVAILABLE',
        `one ${label} unit is ${unitWords * 4} bytes, more than this adapter's maxStorageBufferBindingSize ${maxBytes}; use fewer KV heads per cache`, label);
    }
    if (unitsPerBuffer !== undefined) {
      if (!(Number.isInteger(unitsPerBuffer) && unitsPerBuffer >= 1)) {
        throw new KvpackError('BAD_PARAM', `must be a positive integer, got ${unitsPerBuffer}`, 'pagesPerBuffer');
      }
    }
    this.maxUnitsPerBuffer = Math.min(fit, unitsPerBuffer ?? fit);
    if (!(Number.isInteger(firstUnits) && firstUnits >= 1)) {
      throw new KvpackError('BAD_PARAM', `must be a positive integer, got ${firstUnits}`, 'reserveTokens');
    }
    this.firstUnits = Math.min(this.maxUnitsPerBuffer, firstUnits);
  }

  alloc(): SlabRef {
    const reused = this.free.pop();
    if (reused) return reused;
    let b = this.buffers.length - 1;
    if (b < 0 || this.used[b] === this.capacity[b]) {
      b = this.buffers.length;
      const cap = Math.min(this.maxUnitsPerBuffer, this.firstUnits * 2 ** Math.min(b, 20));
      this.ctx.assertAlive();
      this.buffers.push(this.ctx.device.createBuffer({
        label: `kvpack-${this.label}-${b}`,
        size: cap * this.unitWords * 4,
        usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC,
      }));
      this.capacity.push(cap);
      this.used.push(0);
    }
    const index = this.used[b]!;
    this.used[b] = index + 1;
    return { buffer: b, index, offsetWords: index * this.unitWords };
  }

  release(ref: SlabRef): void {
    this.free.push(ref);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}
