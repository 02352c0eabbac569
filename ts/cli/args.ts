import { KvpackError } from '../errors.js';

/**
 * A small typed flag parser shared by every subcommand (`--name value` or `--name=value`).
 * Not node:util.parseArgs: the CLI modules are also bundled for Deno/Bun, and bad flags must
 * become KvpackError(BAD_PARAM) naming the flag, like every other bad input in kvpack.
 */
export type FlagSpec =
  | { type: 'int'; default?: number; min?: number; max?: number; help: string }
  | { type: 'float'; default?: number; min?: number; max?: number; help: string }
  | { type: 'string'; default?: string; choices?: readonly string[]; help: string }
  | { type: 'list'; default?: readonly string[]; help: string }
  | { type: 'bool'; help: string };

export type FlagSpecs = Record<string, FlagSpec>;

type ValueOf<S extends FlagSpec> =
  S extends { type: 'int' | 'float' } ? number :
  S extends { type: 'string' } ? string :
  S extends { type: 'list' } ? string[] :
  boolean;

/** Parsed flags: flags without a default may be undefined; bools are always present. */
export type Flags<S extends FlagSpecs> = {
  [K in keyof S]: S[K] extends { type: 'bool' } ? boolean
    : S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
} & { help: boolean; positional: string[] };

export function parseFlags<S extends FlagSpecs>(argv: readonly string[], specs: S): Flags<S> {
  const out: Record<string, unknown> = { help: false, positional: [] as string[] };
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type === 'bool') out[name] = false;
    else if (spec.default !== undefined) out[name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') { out.help = true; continue; }
    if (!a.startsWith('--')) { (out.positional as string[]).push(a); continue; }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const spec = specs[name];
    if (!spec) {
      throw new KvpackError('BAD_PARAM', `unknown flag; known: ${Object.keys(specs).map((k) => '--' + k).join(', ')}`, `--${name}`);
    }
    if (spec.type === 'bool') {
      if (eq >= 0) throw new KvpackError('BAD_PARAM', 'takes no value', `--${name}`);
      out[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new KvpackError('BAD_PARAM', 'needs a value', `--${name}`);
      raw = next;
      i++;
    }
    out[name] = convert(name, spec, raw);
  }
  return out as Flags<S>;
}

function convert(name: string, spec: Exclude<FlagSpec, { type: 'bool' }>, raw: string): unknown {
  const arg = `--${name}`;
  switch (spec.type) {
    case 'int':
    case 'float': {
      const v = Number(raw);
      const ok = raw.trim() !== '' && Number.isFinite(v) && (spec.type === 'float' || Number.isInteger(v));
      if (!ok) throw new KvpackError('BAD_PARAM', `expected ${spec.type === 'int' ? 'an integer' : 'a number'}, got '${raw}'`, arg);
      if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
        throw new KvpackError('BAD_PARAM', `must be in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}], got ${v}`, arg);
      }
      return v;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new KvpackError('BAD_PARAM', `must be one of ${spec.choices.join(', ')}, got '${raw}'`, arg);
      }
      return raw;
    case 'list': {
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      if (items.length === 0) throw new KvpackError('BAD_PARAM', 'empty list', arg);
      return items;
    }
  }
}

/** Help text for a flag table, one flag per line, for a command's `usage`. */
export function describeFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const kind = s.type === 'bool' ? '' : ` <${s.type}>`;
    const dflt = 'default' in s && s.default !== undefined
      ? ` (default ${Array.isArray(s.default) ? s.default.join(',') : String(s.default)})` : '';
    return [`  --${name}${kind}`, `${s.help}${dflt}`] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => a.padEnd(w) + b).join('\n');
}
