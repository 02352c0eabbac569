import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KvpackError } from '../errors.js';
import { loadModelFrom, type LoadedModel, type ModelSource } from './loader-registry.js';
import './llama2c-loader.js';

/**
 * Node entry: `path` is a model folder (the loader picks checkpoint and tokenizer by format) or a
 * checkpoint file inside one. Nothing is hard-wired to a file name.
 */
export async function loadModel(path: string): Promise<LoadedModel> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new KvpackError('BAD_PARAM', `cannot read ${path}: ${(e as Error).message}`, 'model');
  }
  const dir = st.isDirectory() ? path : dirname(path);
  const names = (await readdir(dir)).sort();
  const cache = new Map<string, Uint8Array>();
  const src: ModelSource = {
    location: dir,
    names,
    ...(st.isDirectory() ? {} : { preferred: basename(path) }),
    async read(name) {
      let b = cache.get(name);
      if (!b) {
        b = new Uint8Array(await readFile(join(dir, name)));
        cache.set(name, b);
      }
      return b;
    },
  };
  return loadModelFrom(src);
}
