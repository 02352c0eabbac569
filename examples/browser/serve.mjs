#!/usr/bin/env node
/**
 * A static file server for the browser example on 127.0.0.1 (GET only, files under one folder).
 * Usage: node examples/browser/serve.mjs [--dir out] [--port 8080]
 * Also imported by the CI test (tests/runtimes/chromium.test.ts).
 */
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Starts the server; resolves to { url, close() }. port 0: any free port. */
export function serveStatic(dir, port = 0) {
  const base = resolve(dir);
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^[/\\]+/, '');
    const file = join(base, path || 'index.html');
    if (req.method !== 'GET' || (file !== base && !file.startsWith(base + sep))) { res.writeHead(404).end(); return; }
    try {
      const body = await readFile(file);
      // cross-origin isolation: performance.now() at 5 us instead of 100 us (the ms/step column)
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((res) => server.listen(port, '127.0.0.1', () => {
    res({ url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) });
  }));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
  const { url } = await serveStatic(arg('--dir', join(fileURLToPath(new URL('.', import.meta.url)), 'out')), Number(arg('--port', '8080')));
  console.log(`serving ${url}`);
}
