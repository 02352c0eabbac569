import { KvpackError } from '../errors.js';
import { ATTEND_ARG_COUNT, type KvpackWasmExports } from './wasm-abi.js';
import { WasmArena } from './wasm-arena.js';

/**
 * How build/kvpack.wasm travels with the library (docs/ARCHITECTURE.md "WASM kernels"):
 * 1. A bundle inlines it: scripts/build.mjs passes esbuild
 *    `define: { __KVPACK_WASM_BASE64__: JSON.stringify(base64 of build/kvpack.wasm) }`.
 *    One self-contained file then works in Node, Deno, Bun and browsers (no fetch of a side file,
 *    no bundler asset configuration for users); the module is ~15 KB, ~20 KB as base64.
 * 2. Unbundled (vitest, Deno running the .ts sources): read `build/kvpack.wasm` from the source
 *    tree, or `kvpack.wasm` next to the module, via node:fs (Node, Deno) or fetch (browsers).
 * 3. Callers with their own bytes (a CDN, a custom build) pass them to loadKvpackWasm(bytes).
 */
declare const __KVPACK_WASM_BASE64__: string | undefined;

/** Where the unbundled sources look for the module, relative to this file. */
const WASM_FILE_CANDIDATES = ['../../build/kvpack.wasm', './kvpack.wasm'];

let defaultModule: Promise<WebAssembly.Module> | undefined;

/** One instantiated kernel module: its exports and an allocator over its memory. */
export class KvpackWasm {
  readonly exports: KvpackWasmExports;
  readonly memory: WebAssembly.Memory;
  readonly arena: WasmArena;
  private readonly refs = new Map<string, number>();

  constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as KvpackWasmExports;
    this.memory = this.exports.memory;
    const n = this.exports.attend_arg_count();
    if (n !== ATTEND_ARG_COUNT) {
      throw new KvpackError('BACKEND_UNAVAILABLE',
        `kvpack.wasm has ${n} attend arguments, ts/backends/wasm-abi.ts ${ATTEND_ARG_COUNT}: stale build? run npm run build:wasm`, 'wasm');
    }
    this.arena = new WasmArena(this.memory, this.exports.heap_base());
  }

  /** A callable export, or BACKEND_UNAVAILABLE naming it (a table entry without its kernel). */
  fn(name: string): (...args: number[]) => number {
    const f = this.exports[name];
    if (typeof f !== 'function') {
      throw new KvpackError('BACKEND_UNAVAILABLE', `kvpack.wasm has no export '${name}' (stale build? run npm run build:wasm)`, 'wasm');
    }
    return f as (...args: number[]) => number;
  }

  /** The function reference a `score_*` / `accumulate_*` / ... getter export returns. */
  ref(getter: string): number {
    let r = this.refs.get(getter);
    if (r === undefined) {
      r = this.fn(getter)();
      this.refs.set(getter, r);
    }
    return r;
  }
}

/**
 * Instantiate the kernel module. `source`: the .wasm bytes or a compiled module; without it the
 * inlined (bundle) or on-disk (sources) module is used, compiled once per process.
 */
export async function loadKvpackWasm(source?: BufferSource | WebAssembly.Module): Promise<KvpackWasm> {
  let module: WebAssembly.Module;
  try {
    if (source instanceof WebAssembly.Module) module = source;
    else if (source !== undefined) module = await WebAssembly.compile(source);
    else module = await (defaultModule ??= compileDefault());
  } catch (e) {
    if (source === undefined) defaultModule = undefined; // let a later call retry
    if (e instanceof KvpackError) throw e;
    throw new KvpackError('BACKEND_UNAVAILABLE', `cannot compile kvpack.wasm: ${(e as Error).message}`, 'wasm');
  }
  // no imports: the kernels never abort (built with noAssert) and own no host state
  const instance = await WebAssembly.instantiate(module, {});
  return new KvpackWasm(instance);
}

async function compileDefault(): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await defaultWasmBytes());
}

/** The module bytes this build carries (see the header comment). */
export async function defaultWasmBytes(): Promise<Uint8Array<ArrayBuffer>> {
  if (typeof __KVPACK_WASM_BASE64__ === 'string') return base64ToBytes(__KVPACK_WASM_BASE64__);
  const errors: string[] = [];
  for (const rel of WASM_FILE_CANDIDATES) {
    const url = new URL(rel, import.meta.url);
    try {
      return await readUrl(url);
    } catch (e) {
      errors.push(`${url.href}: ${(e as Error).message}`);
    }
  }
  throw new KvpackError('BACKEND_UNAVAILABLE',
    `kvpack.wasm not found (run npm run build:wasm, or pass the bytes to loadKvpackWasm): ${errors.join('; ')}`, 'wasm');
}

async function readUrl(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === 'file:') {
    // node:fs works in Node, Deno and Bun; the specifier is a variable so browser bundlers
    // leave it alone (the bundle never reaches here: it inlines the module).
    const fsName = 'node:fs/promises';
    const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
    return new Uint8Array(await fs.readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A 31-byte module using SIMD instructions (v128 i8x16.splat / popcnt, from
 * wasm-feature-detect): WebAssembly.validate accepts it only where WASM SIMD is supported.
 */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** True when this runtime has WebAssembly with the SIMD proposal (needed by kvpack.wasm). */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}
