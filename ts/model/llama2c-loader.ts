import { KvpackError } from '../errors.js';
import { LLAMA2C_HEADER_BYTES, parseLlama2cCheckpoint, readLlama2cHeader } from './llama2c-checkpoint.js';
import { registerModelLoader, type LoadedModel, type ModelLoader, type ModelSource } from './loader-registry.js';
import { parseLlama2cTokenizer } from './tokenizer.js';

/** llama2.c names its tokenizers tokenizer.bin or tokNNN.bin (custom vocabularies). */
function isTokenizerName(name: string): boolean {
  return /^tok(enizer)?\d*\.bin$/i.test(name);
}

function checkpointCandidates(src: ModelSource): string[] {
  if (src.preferred) return [src.preferred];
  return src.names.filter((n) => n.toLowerCase().endsWith('.bin') && !isTokenizerName(n));
}

function tokenizerCandidates(src: ModelSource): string[] {
  return src.names.filter(isTokenizerName).sort();
}

async function headerOk(src: ModelSource, name: string): Promise<boolean> {
  try {
    readLlama2cHeader((await src.read(name)).subarray(0, LLAMA2C_HEADER_BYTES));
    return true;
  } catch {
    return false;
  }
}

export const llama2cLoader: ModelLoader = {
  name: 'llama2c',
  async detect(src) {
    if (tokenizerCandidates(src).length === 0) return false;
    for (const n of checkpointCandidates(src)) if (await headerOk(src, n)) return true;
    return false;
  },
  async load(src): Promise<LoadedModel> {
    const ckpts = checkpointCandidates(src);
    if (ckpts.length !== 1) {
      throw new KvpackError('BAD_PARAM', `${ckpts.length} checkpoint candidates in ${src.location} ` +
        `(${ckpts.join(', ')}); pass the checkpoint file itself`, 'model');
    }
    const toks = tokenizerCandidates(src);
    if (toks.length !== 1) {
      throw new KvpackError('BAD_PARAM', `${toks.length} tokenizer files in ${src.location} (${toks.join(', ')}); keep one`, 'model');
    }
    const model = parseLlama2cCheckpoint(await src.read(ckpts[0]!));
    const tokenizer = parseLlama2cTokenizer(await src.read(toks[0]!), model.config.vocabSize);
    return { model, tokenizer, files: { checkpoint: ckpts[0]!, tokenizer: toks[0]! } };
  },
};

registerModelLoader(llama2cLoader);
