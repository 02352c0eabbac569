import { readFile, writeFile } from 'node:fs/promises';
import { KvpackError } from '../errors.js';
import { parseKvCapture, serializeKvCapture, type KvCapture } from './kv-capture.js';

/** Reads a .kvcap file written by `kvpack capture` (format: docs/QUALITY.md). */
export async function loadKvCapture(path: string): Promise<KvCapture> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new KvpackError('BAD_PARAM', `cannot read ${path}: ${(e as Error).message}`, 'path');
  }
  return parseKvCapture(bytes);
}

export async function saveKvCapture(path: string, capture: KvCapture): Promise<void> {
  await writeFile(path, serializeKvCapture(capture));
}
