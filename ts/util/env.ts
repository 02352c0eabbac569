import { KvpackError } from '../errors.js';

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

/**
 * Variable `name` of `env` as one of `choices` (spaces and case ignored), or undefined when it is
 * unset, empty, `auto` or unreadable; any other value is BAD_PARAM naming the variable.
 */
export function envChoice<T extends string>(env: Record<string, string | undefined>, name: string, choices: readonly T[]): T | undefined {
  const value = envValue(env, name);
  const raw = value?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === 'auto') return undefined;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new KvpackError('BAD_PARAM', `must be one of ${choices.join(', ')} or auto, got '${value}'`, name);
  }
  return raw as T;
}
