/**
 * The contract between the CLI dispatcher (ts/cli/main.ts) and one subcommand module.
 * A subcommand is a module exporting `run` (and optionally `usage`); it is listed once in
 * ts/cli/commands.ts and loaded lazily, so `kvpack demo` never loads the model code and a
 * broken optional command cannot break the others.
 */
export interface CliIo {
  /** Results (tables, JSON): what a user pipes into a file. */
  out(text: string): void;
  /** Progress and diagnostics: kept off stdout so results stay machine-readable. */
  err(text: string): void;
  /** Environment (KVPACK_BACKEND, ...); a plain object so tests can pass their own. */
  env: Record<string, string | undefined>;
  /** True when stderr is a terminal: progress redraws one line there, else prints plain lines. */
  errIsTty?: boolean;
}

export interface CommandModule {
  /** Multi-line help printed by `kvpack <command> --help`. */
  readonly usage?: string;
  /** argv: the arguments after the command name. Returns the process exit code. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

export interface CommandEntry {
  name: string;
  /** One line for `kvpack --help`. */
  summary: string;
  load(): Promise<CommandModule>;
}
