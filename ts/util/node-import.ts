/**
 * `import('node:<name>')` that bundlers leave alone: the specifier is built at run time, so
 * esbuild's minifier cannot fold it into a literal that a browser build (esbuild platform
 * 'browser', Vite) then fails to resolve. Only reached in Node, Deno and Bun: the paths that call
 * it (reading build/ from the source tree, worker threads) are never taken in a browser.
 */
export function importNode<T = unknown>(name: string): Promise<T> {
  const prefix = ['node', ''].join(':');
  return import(/* @vite-ignore */ prefix + name) as Promise<T>;
}
