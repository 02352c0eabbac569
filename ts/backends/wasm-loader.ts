import { KvpackError } from '../errors.js';
import { envChoice, processEnv } from '../util/env.js';
import { ATTEND_ARG_COUNT, type KvpackWasmExports } from './wasm-abi.js';
import { WasmArena } from './wasm-arena.js';
import { importNode } from '../util/node-import.js';

/**
 * How the kernel modules travel with the library (docs/ARCHITECTURE.md "WASM kernels"):
 * 1. A bundle inlines them: scripts/build.mjs passes esbuild `define: { __KVPACK_WASM_BASE64__,
 *    __KVPACK_WASM_RELAXED_BASE64__ }` (base64 of build/kvpack.wasm, build/kvpack-relaxed.wasm).
 *    One self-contained file then works in Node, Deno, Bun and browsers (no fetch of a side file,
 *    no bundler asset configuration for users); each module is ~65 KB, ~88 KB as base64.
 * 2. Unbundled (vitest, Deno running the .ts sources): read `build/<file>` from the source
 *    tree, or `<file>` next to the module, via node:fs (Node, Deno) or fetch (browsers).
 * 3. Callers with their own bytes (a CDN, a custom build) pass them to loadKvpackWasm(bytes).
 *
 * Two builds of the same kernels (assembly/vec.ts madd4): 'base' needs WASM SIMD; 'relaxed' also
 * uses relaxed SIMD's f32x4.relaxed_madd for the attention kernels' multiply-adds (fused where the
 * CPU has FMA: decisions.md#D9; encoders are the same code in
 * both, tile words identical). Without bytes the loader takes the relaxed build where the runtime
 * validates it (Node >= 22, Deno, Chrome), else the base one; env KVPACK_WASM_BUILD=base|relaxed
 * forces one (a forced build the runtime cannot run is BACKEND_UNAVAILABLE, not a fallback).
 */
declare const __KVPACK_WASM_BASE64__: string | undefined;
declare const __KVPACK_WASM_RELAXED_BASE64__: string | undefined;

/** The two builds of the kernel module. */
export type WasmBuild = 'base' | 'relaxed';
export const WASM_BUILDS: readonly WasmBuild[] = ['base', 'relaxed'];

/** File name of each build (in build/ of the source tree, or next to the module). */
export const WASM_BUILD_FILES: Readonly<Record<WasmBuild, string>> = { base: 'kvpack.wasm', relaxed: 'kvpack-relaxed.wasm' };

function inlinedBase64(build: WasmBuild): string | undefined {
  if (build === 'base') return typeof __KVPACK_WASM_BASE64__ === 'string' ? __KVPACK_WASM_BASE64__ : undefined;
  return typeof __KVPACK_WASM_RELAXED_BASE64__ === 'string' ? __KVPACK_WASM_RELAXED_BASE64__ : undefined;
}

const defaultModules = new Map<WasmBuild, Promise<WebAssembly.Module>>();

/** One instantiated kernel module: its exports and an allocator over its memory. */
export class KvpackWasm {
  readonly exports: KvpackWasmExports;
  readonly memory: WebAssembly.Memory;
  readonly arena: WasmArena;
  /** Which build this is, as the module itself reports it (relaxed_simd export). */
  readonly build: WasmBuild;
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
    this.build = typeof this.exports.relaxed_simd === 'function' && this.exports.relaxed_simd() === 1 ? 'relaxed' : 'base';
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
 * inlined (bundle) or on-disk (sources) module of `chooseWasmBuild()` is used, compiled once per
 * process and build.
 */
export async function loadKvpackWasm(source?: BufferSource | WebAssembly.Module): Promise<KvpackWasm> {
  let module: WebAssembly.Module;
  let build: WasmBuild | undefined;
  try {
    if (source instanceof WebAssembly.Module) module = source;
    else if (source !== undefined) module = await WebAssembly.compile(source);
    else module = await defaultWasmModule(build = chooseWasmBuild());
  } catch (e) {
    if (e instanceof KvpackError) throw e;
    throw new KvpackError('BACKEND_UNAVAILABLE', `cannot compile ${build ? WASM_BUILD_FILES[build] : 'the kvpack module'}: ${(e as Error).message}`, 'wasm');
  }
  // no imports: the kernels never abort (built with noAssert) and own no host state
  const instance = await WebAssembly.instantiate(module, {});
  return new KvpackWasm(instance);
}

/**
 * The carried module of one build, compiled once per process: every WasmBackend and every
 * WasmThreadsBackend worker made without bytes instantiates this one, so the engine's optimized
 * code of the kernels (V8 tiers hot functions up from its baseline compiler) is shared by all of
 * them instead of each pool starting over (decisions.md#D44).
 */
export async function defaultWasmModule(build: WasmBuild): Promise<WebAssembly.Module> {
  let pending = defaultModules.get(build);
  if (!pending) {
    defaultModules.set(build, pending = defaultWasmBytes(build).then((b) => WebAssembly.compile(b)));
    const failed = pending;
    failed.catch(() => { if (defaultModules.get(build) === failed) defaultModules.delete(build); }); // a later call retries
  }
  return pending;
}

/**
 * The build loadKvpackWasm() takes without bytes: env KVPACK_WASM_BUILD (base, relaxed, or auto
 * = unset or unreadable) in `env` (default: the process environment), else relaxed where
 * relaxedSimdSupported().
 * A forced build this runtime cannot run, or another value, throws (BACKEND_UNAVAILABLE /
 * BAD_PARAM), so a run never measures a build it did not ask for.
 */
export function chooseWasmBuild(env: Record<string, string | undefined> = processEnv()): WasmBuild {
  const forced = envChoice(env, 'KVPACK_WASM_BUILD', WASM_BUILDS);
  if (forced === undefined) return relaxedSimdSupported() ? 'relaxed' : 'base';
  if (forced === 'relaxed' && !relaxedSimdSupported()) {
    throw new KvpackError('BACKEND_UNAVAILABLE',
      'KVPACK_WASM_BUILD=relaxed, but this runtime does not validate relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)', 'KVPACK_WASM_BUILD');
  }
  return forced;
}

/** The module bytes of one build that this library carries (see the header comment). */
export async function defaultWasmBytes(build: WasmBuild): Promise<Uint8Array<ArrayBuffer>> {
  const inlined = inlinedBase64(build);
  if (inlined !== undefined) return base64ToBytes(inlined);
  const file = WASM_BUILD_FILES[build];
  const errors: string[] = [];
  for (const rel of [`../../build/${file}`, `./${file}`]) {
    const url = new URL(rel, import.meta.url);
    try {
      return await readUrl(url);
    } catch (e) {
      errors.push(`${url.href}: ${(e as Error).message}`);
    }
  }
  throw new KvpackError('BACKEND_UNAVAILABLE',
    `${file} not found (run npm run build:wasm, or pass the bytes to loadKvpackWasm): ${errors.join('; ')}`, 'wasm');
}

async function readUrl(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === 'file:') {
    // node:fs works in Node, Deno and Bun; importNode keeps the specifier opaque so browser bundlers
    // leave it alone (the bundle never reaches here: it inlines the module).
    const fs = await importNode<{ readFile(u: URL): Promise<Uint8Array> }>('fs/promises');
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

/**
 * A 37-byte module whose one function is f32x4.relaxed_madd (0xfd 0x105) of its three v128
 * parameters: WebAssembly.validate accepts it only where relaxed SIMD is enabled.
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
]);

/** True when this runtime validates relaxed SIMD (build/kvpack-relaxed.wasm can run). */
export function relaxedSimdSupported(): boolean {
  try {
    return wasmSimdSupported() && WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}
