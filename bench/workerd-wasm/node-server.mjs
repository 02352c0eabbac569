// Node entry: node node-server.mjs <port> <limit seconds>; the same handler over node:http on 127.0.0.1.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import * as kv from './kvpack.js';
import { makeHandler } from './handler.js';

const [port, limit] = process.argv.slice(2).map(Number);
const read = (f) => WebAssembly.compile(readFileSync(new URL(f, import.meta.url)));
const handler = await makeHandler(kv, { kvpack: await read('./kvpack.wasm'), loop: await read('./load-loop.wasm') });
createServer(async (req, res) => {
  const r = await handler(`http://127.0.0.1${req.url}`);
  res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
}).listen(port, '127.0.0.1');
setTimeout(() => process.exit(0), limit * 1000).unref();
