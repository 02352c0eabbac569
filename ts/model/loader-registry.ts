import { KvpackError } from '../errors.js';
import type { Model } from './config.js';
import type { Tokenizer } from './tokenizer.js';

/** The files of one model folder, read lazily (a browser can back this with fetch, Node with fs). */
export interface ModelSource {
  /** Where the files come from, for messages. */
  location: string;
  /** File names in the folder. */
  names: readonly string[];
  /** Checkpoint file the user named explicitly, if any. */
  preferred?: string;
  read(name: string): Promise<Uint8Array>;
}

export interface LoadedModel {
  model: Model;
  tokenizer: Tokenizer;
  /** Files used, for reports. */
  files: { checkpoint: string; tokenizer: string };
}

/**
 * One model format. `detect` must be cheap and must not throw on foreign files (it decides
 * whether this loader applies); `load` validates everything and throws CORRUPT_DATA.
 */
export interface ModelLoader {
  name: string;
  detect(src: ModelSource): Promise<boolean>;
  load(src: ModelSource): Promise<LoadedModel>;
}

const loaders: ModelLoader[] = [];

/** Formats register once at import (ts/model/index.ts imports them all); first detection wins. */
export function registerModelLoader(loader: ModelLoader): void {
  if (loaders.some((l) => l.name === loader.name)) throw new Error(`model loader ${loader.name} registered twice`);
  loaders.push(loader);
}

export function listModelLoaders(): readonly ModelLoader[] {
  return loaders;
}

/** Loads with the first loader that recognizes the files; an unknown format is CORRUPT_DATA on `model`. */
export async function loadModelFrom(src: ModelSource): Promise<LoadedModel> {
  for (const l of loaders) {
    if (await l.detect(src)) return l.load(src);
  }
  throw new KvpackError('CORRUPT_DATA', `no loader recognizes the files in ${src.location} ` +
    `(${src.names.join(', ') || 'none'}); known formats: ${loaders.map((l) => l.name).join(', ')}`, 'model');
}
