/** The process environment where the runtime has one (Node, Deno 2, Bun); `{}` in browsers. */
export function processEnv(): Record<string, string | undefined> {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env ?? {};
}
