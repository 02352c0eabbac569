/**
 * Saving and restoring caches (docs/FORMAT.md, "Saved caches"). The caches' own methods
 * (PackedKvCache.serialize / deserialize, QaqKvCache..., GpuKvCache...) cover one layer; these
 * functions save several layers (a model's caches) into one file and read them back.
 */
import { PackedKvCache, type TileEncoderSource } from '../cache/kv-cache.js';
import { QaqKvCache } from '../codecs/qaq/cache.js';
import { KvpackError } from '../errors.js';
import { checkArray, checkOptionalObject } from '../util/args.js';
import { pullChunks, pullSync, type ChunkSource } from './bytes.js';
import { concatChunks, layersChunks, parseFile, type LayerData } from './cache-file.js';

export { SAVE_FORMAT_VERSION, SAVE_MAGIC, MAX_SAVED_LAYERS } from './cache-file.js';
export type { LayerData, PackedLayerData, QaqLayerData, ParsedFile } from './cache-file.js';
export type { ChunkSource } from './bytes.js';
export { inspectSavedCache, formatInspection } from './inspect.js';
export type { CacheInspection } from './inspect.js';

export type SavableCache = PackedKvCache | QaqKvCache;

function layerData(c: SavableCache, i: number): LayerData {
  if (c instanceof PackedKvCache || c instanceof QaqKvCache) return c.toLayerData();
  throw new KvpackError('BAD_PARAM', 'must be a PackedKvCache or QaqKvCache (GpuKvCache: await its serialize())', `caches[${i}]`);
}

export interface SerializeCachesOptions {
  /** A plain value saved with the caches (META section), e.g. the prompt tokens; see loadSavedCaches. */
  meta?: unknown;
}

/** Chunks of one file holding every cache (e.g. one per model layer), in order. */
export function* serializeCachesChunks(caches: readonly SavableCache[], options: SerializeCachesOptions = {}): Generator<Uint8Array> {
  checkArray(caches, 'caches');
  checkOptionalObject(options, 'options');
  yield* layersChunks(caches.map(layerData), options.meta);
}

/** One file holding every cache (e.g. one per model layer), in order. */
export function serializeCaches(caches: readonly SavableCache[], options: SerializeCachesOptions = {}): Uint8Array {
  checkArray(caches, 'caches');
  checkOptionalObject(options, 'options');
  return concatChunks(serializeCachesChunks(caches, options));
}

export interface DeserializeCachesOptions {
  encodeWith?: TileEncoderSource;
}

function build(layers: LayerData[], o: DeserializeCachesOptions): SavableCache[] {
  return layers.map((l) => l.kind === 'packed' ? PackedKvCache.fromLayerData(l, o) : QaqKvCache.fromLayerData(l));
}

/** Every cache of a file written by serializeCaches (or a cache's serialize()). */
export function deserializeCaches(bytes: Uint8Array, options: DeserializeCachesOptions = {}): SavableCache[] {
  checkOptionalObject(options, 'options');
  return build(pullSync(bytes, parseFile()).layers, options);
}

/** The caches and the META value of a file written by serializeCaches. */
export function loadSavedCaches(bytes: Uint8Array, options: DeserializeCachesOptions = {}): { caches: SavableCache[]; meta: unknown } {
  checkOptionalObject(options, 'options');
  const f = pullSync(bytes, parseFile());
  return { caches: build(f.layers, options), meta: f.meta };
}

export async function deserializeCachesFrom(source: ChunkSource, options: DeserializeCachesOptions = {}): Promise<SavableCache[]> {
  checkOptionalObject(options, 'options');
  return build((await pullChunks(source, parseFile())).layers, options);
}
