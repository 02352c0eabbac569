// workerd entry (the config bench/workerd-wasm.mjs writes): WASM comes in as compiled `wasm` modules.
import * as kv from './kvpack.js';
import kvpack from './kvpack.wasm';
import loop from './load-loop.wasm';
import { makeHandler } from './handler.js';

let handler;
export default {
  async fetch(request) {
    handler ??= makeHandler(kv, { kvpack, loop });
    const r = await (await handler)(request.url);
    return new Response(JSON.stringify(r.body), { status: r.status, headers: { 'content-type': 'application/json' } });
  },
};
