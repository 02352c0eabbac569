/**
 * The WASM module's host side: loading from bytes / a compiled module / the default location,
 * typed errors for bad bytes, which build (base / relaxed SIMD) loads, and the arena that owns
 * the module's memory above heap_base. Runs twice in npm test: as is, and with
 * KVPACK_WASM_BUILD=relaxed (scripts/test-relaxed.mjs), where the default module must be relaxed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KvpackError } from '../../ts/errors.js';
import { ATTEND_ARG, ATTEND_ARG_COUNT } from '../../ts/backends/wasm-abi.js';
import { WasmArena } from '../../ts/backends/wasm-arena.js';
import { chooseWasmBuild, defaultWasmBytes, defaultWasmModule, loadKvpackWasm, relaxedSimdSupported } from '../../ts/backends/wasm-loader.js';

const bytes = readFileSync(new URL('../../build/kvpack.wasm', import.meta.url));
const relaxedBytes = readFileSync(new URL('../../build/kvpack-relaxed.wasm', import.meta.url));

describe('loadKvpackWasm', () => {
  it('loads from bytes, from a compiled module and from build/kvpack.wasm, each with its own memory', async () => {
    const a = await loadKvpackWasm(bytes);
    const b = await loadKvpackWasm(new WebAssembly.Module(bytes));
    const c = await loadKvpackWasm();
    expect(new Uint8Array(await defaultWasmBytes('base'))).toEqual(new Uint8Array(bytes));
    for (const w of [a, b, c]) {
      expect(w.exports.attend_arg_count()).toBe(ATTEND_ARG_COUNT);
      expect(w.exports.heap_base()).toBeGreaterThan(0);
    }
    a.arena.alloc(1 << 20); // grows a's memory only
    expect(a.memory.buffer.byteLength).toBeGreaterThan(b.memory.buffer.byteLength);
    expect(Object.keys(ATTEND_ARG)).toHaveLength(ATTEND_ARG_COUNT);
  });

  it('compiles the carried module once per process: every default instance and pool shares it (D44)', async () => {
    const m = await defaultWasmModule('base');
    expect(await defaultWasmModule('base')).toBe(m);
    // two instances of the one module: their own memories, the module's compiled code shared
    const [a, b] = [await loadKvpackWasm(m), await loadKvpackWasm(m)];
    expect(a.memory).not.toBe(b.memory);
  });

  it('rejects bad bytes and unknown exports with BACKEND_UNAVAILABLE', async () => {
    await expect(loadKvpackWasm(new Uint8Array([0, 97, 115, 109, 9, 9]))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', arg: 'wasm' });
    const w = await loadKvpackWasm(bytes);
    expect(() => w.fn('encode_no_such_codec')).toThrowError(KvpackError);
    expect(() => w.ref('score_no_such_codec')).toThrowError(/no export 'score_no_such_codec'/);
  });
});

describe('kernel builds: base and relaxed SIMD', () => {
  it('takes relaxed where the runtime validates it, honours KVPACK_WASM_BUILD, refuses what cannot run', () => {
    const relaxed = relaxedSimdSupported();
    console.log(`relaxed SIMD here: ${relaxed}; KVPACK_WASM_BUILD=${process.env.KVPACK_WASM_BUILD ?? '(unset)'}`);
    expect(chooseWasmBuild({})).toBe(relaxed ? 'relaxed' : 'base');
    expect(chooseWasmBuild({ KVPACK_WASM_BUILD: ' auto ' })).toBe(relaxed ? 'relaxed' : 'base');
    expect(chooseWasmBuild({ KVPACK_WASM_BUILD: 'BASE' })).toBe('base');
    if (relaxed) expect(chooseWasmBuild({ KVPACK_WASM_BUILD: 'relaxed' })).toBe('relaxed');
    else expect(() => chooseWasmBuild({ KVPACK_WASM_BUILD: 'relaxed' })).toThrowError(/KVPACK_WASM_BUILD=relaxed, but this runtime/);
    expect(() => chooseWasmBuild({ KVPACK_WASM_BUILD: 'fma' })).toThrowError(KvpackError);
    if (process.env.KVPACK_WASM_BUILD === 'relaxed') expect(relaxed).toBe(true); // the relaxed run really has it
  });

  it('each module reports its build; the default module is the chosen build', async () => {
    expect((await loadKvpackWasm(bytes)).build).toBe('base');
    if (relaxedSimdSupported()) expect((await loadKvpackWasm(relaxedBytes)).build).toBe('relaxed');
    else await expect(loadKvpackWasm(relaxedBytes)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect((await loadKvpackWasm()).build).toBe(chooseWasmBuild());
    expect(new Uint8Array(await defaultWasmBytes('relaxed'))).toEqual(new Uint8Array(relaxedBytes));
  });
});

describe('WasmArena', () => {
  it('allocates 16-byte aligned blocks, reuses and coalesces freed ones, grows memory', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const arena = new WasmArena(memory, 100);
    const a = arena.alloc(10), b = arena.alloc(40), c = arena.alloc(16);
    expect([a, b, c].every((p) => p % 16 === 0)).toBe(true);
    expect(a).toBeGreaterThanOrEqual(100);
    expect(b).toBeGreaterThanOrEqual(a + 10);
    expect(c).toBeGreaterThanOrEqual(b + 40);
    arena.release(a);
    arena.release(b); // a and b merge into one free block of 64 bytes
    expect(arena.alloc(60)).toBe(a);
    const big = arena.alloc(200_000); // beyond the first 64 KiB page
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(big + 200_000);
    arena.f32(big, 50_000).fill(1.5);
    expect(arena.f32(big + 4 * 49_999, 1)[0]).toBe(1.5);
    arena.release(big);
    arena.release(c);
    expect(() => arena.release(c)).toThrow(/unknown block/);
    expect(arena.bytesInUse).toBe(64);
  });

  it('reports memory it cannot get as BACKEND_UNAVAILABLE', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    const arena = new WasmArena(memory, 0);
    expect(() => arena.alloc(3 * 65536)).toThrowError(expect.objectContaining({ code: 'BACKEND_UNAVAILABLE' }));
    expect(arena.bytesInUse).toBe(0);
  });
});
