import { KvpackError, check } from '../errors.js';
import type { CodecKernels } from './kernels.js';
import { checkObject, typeName } from '../util/args.js';
import type { CodecContext, CodecInfo, StreamCodec } from './types.js';

const codecs = new Map<string, CodecInfo>();
/** First registered CodecInfo of each family. */
const families = new Map<string, CodecInfo>();

/** Codec modules call this once at import; `ts/codecs/index.ts` imports them all. */
export function registerCodec(info: CodecInfo): void {
  if (codecs.has(info.name)) throw new Error(`codec ${info.name} registered twice`);
  codecs.set(info.name, info);
  if (info.family !== undefined && !families.has(info.family)) families.set(info.family, info);
}

/** The kernel descriptor serving a codec instance: its registered name's, else its family's. */
export function codecKernels(codec: Pick<StreamCodec, 'name' | 'family'>): CodecKernels | undefined {
  const info = codecs.get(codec.name) ?? (codec.family !== undefined ? families.get(codec.family) : undefined);
  return info?.kernels;
}

export function codecInfo(name: string): CodecInfo {
  const info = codecs.get(name);
  if (!info) {
    throw new KvpackError('UNKNOWN_CODEC', `unknown codec '${name}'; known: ${[...codecs.keys()].join(', ')}`, 'codec');
  }
  return info;
}

export function listCodecs(): CodecInfo[] {
  return [...codecs.values()];
}

export function createCodec(name: string, ctx: CodecContext): StreamCodec {
  check(typeof name === 'string', 'UNKNOWN_CODEC', `codec names are strings, got ${typeName(name)}`, 'codec');
  checkObject(ctx, 'ctx');
  const info = codecInfo(name);
  if (!info.streams.includes(ctx.kind)) {
    throw new KvpackError('BAD_PARAM', `codec '${name}' cannot code ${ctx.kind}s`, ctx.kind);
  }
  if (info.needsCalibration && ctx.calibration === undefined) {
    throw new KvpackError('BAD_CALIBRATION', `codec '${name}' needs a calibration object`, 'calibration');
  }
  return info.create(ctx);
}
