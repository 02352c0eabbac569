import { KvpackError } from '../errors.js';

const WASM_PAGE = 65536;
/** v128 loads are fastest aligned; every block starts on 16 bytes. */
const ALIGN = 16;
/** wasm32 cannot address more than 4 GiB. */
const MAX_BYTES = 65536 * WASM_PAGE;

/**
 * First-fit allocator over a WebAssembly.Memory from `base` (the module's __heap_base) up, with
 * coalescing free list. The kernels never allocate, so the host owns this whole range; memory
 * grows on demand (views over memory.buffer must be re-created after any alloc).
 */
export class WasmArena {
  private top: number;
  /** Free blocks [start, size], sorted by start, never adjacent (merged on free). */
  private free: Array<[number, number]> = [];
  private readonly sizes = new Map<number, number>();

  constructor(private readonly memory: WebAssembly.Memory, base: number) {
    this.top = align(base);
  }

  get bytesInUse(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  /** Bytes in freed blocks below the top, reused by later allocations of their size or less. */
  get freeBytes(): number {
    let n = 0;
    for (const [, s] of this.free) n += s;
    return n;
  }

  /** Bytes from the heap base to the highest block in use (memory never shrinks below its peak). */
  get topBytes(): number {
    return this.top;
  }

  alloc(bytes: number): number {
    const size = align(Math.max(bytes, 1));
    for (let i = 0; i < this.free.length; i++) {
      const [start, fsize] = this.free[i]!;
      if (fsize >= size) {
        if (fsize === size) this.free.splice(i, 1);
        else this.free[i] = [start + size, fsize - size];
        this.sizes.set(start, size);
        return start;
      }
    }
    const start = this.top;
    const end = start + size;
    if (end > MAX_BYTES) {
      throw new KvpackError('BACKEND_UNAVAILABLE', `WASM memory would exceed 4 GiB: a block of ${size} bytes needs ${end} bytes; ` +
        `${this.bytesInUse} bytes are held by caches and calls, ${this.freeBytes} free in blocks smaller than this one (forget() or dispose() caches to free them)`, 'wasm');
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // grow geometrically so a growing cache does not grow memory on every page
      const want = Math.min(MAX_BYTES, Math.max(end, have * 1.5));
      try {
        this.memory.grow(Math.ceil((want - have) / WASM_PAGE));
      } catch {
        try {
          this.memory.grow(Math.ceil((end - have) / WASM_PAGE));
        } catch (e) {
          throw new KvpackError('BACKEND_UNAVAILABLE', `cannot grow WASM memory to ${end} bytes: ${(e as Error).message}`, 'wasm');
        }
      }
    }
    this.top = end;
    this.sizes.set(start, size);
    return start;
  }

  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`wasm arena: release of unknown block ${ptr}`);
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < ptr) i++;
    this.free.splice(i, 0, [ptr, size]);
    // merge with the next and previous neighbours
    const next = this.free[i + 1];
    if (next && ptr + size === next[0]) {
      this.free[i] = [ptr, size + next[1]];
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev[0] + prev[1] === ptr) {
      prev[1] += this.free[i]![1];
      this.free.splice(i, 1);
    }
    // a free block at the top returns to the bump region
    const last = this.free[this.free.length - 1];
    if (last && last[0] + last[1] === this.top) {
      this.top = last[0];
      this.free.pop();
    }
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  u32(ptr: number, length: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, ptr, length);
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
