// One engine's run (Node, Deno or Bun): node|deno|bun run.mjs MODULE.wasm ITERS ROUNDS -> one JSON line.
import { readFileSync } from 'node:fs';
import { measure } from './measure.mjs';

const [path, iters, rounds] = process.argv.slice(2);
const engine = typeof Deno !== 'undefined' ? { runtime: 'deno', version: Deno.version.deno, engine: `V8 ${Deno.version.v8}` }
  : typeof Bun !== 'undefined' ? { runtime: 'bun', version: Bun.version, engine: 'JavaScriptCore' }
  : { runtime: 'node', version: process.versions.node, engine: `V8 ${process.versions.v8}` };
const r = await measure(new Uint8Array(readFileSync(path)), Number(iters), Number(rounds));
console.log(JSON.stringify({ ...engine, ...r }));
