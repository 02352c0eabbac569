/** The process environment where the runtime has one (Node, Deno 2, Bun); `{}` in browsers. */
export function processEnv(): Record<string, string | undefined> {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env ?? {};
}

/**
 * One variable of `env`, or undefined where reading it is not allowed: Deno without --allow-env
 * throws NotCapable on process.env reads, and kvpack's settings are optional there.
 */
export function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  try {
    return env[name];
  } catch {
    return undefined;
  }
}
