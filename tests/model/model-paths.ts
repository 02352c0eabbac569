import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** ../shared sits beside the clone (COMMON.md); tests fail loudly if it is missing rather than skip. */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = process.env.KVPACK_SHARED ?? join(repo, '..', 'shared');
export const MODEL_DIR = join(SHARED, 'models', 'stories260K');
export const TEXT_FILE = join(SHARED, 'data', 'tinystories-valid-sample', 'TinyStories-valid.txt');

export function requireShared(): void {
  if (!existsSync(MODEL_DIR) || !existsSync(TEXT_FILE)) {
    throw new Error(`real model/data not found under ${SHARED}; set KVPACK_SHARED`);
  }
}
