import { KvpackError } from '../errors.js';
import { checkBytes } from '../util/args.js';
import { TILE_TOKENS } from '../format/constants.js';
import { pullSync } from './bytes.js';
import { parseFile, SAVE_FORMAT_VERSION, type ReadObserver } from './cache-file.js';

/** What `kvpack inspect` shows of a saved cache. */
export interface CacheInspection {
  bytes: number;
  /** 'ok', or the error that stopped the read (every section before it was checksummed fine). */
  status: 'ok' | 'corrupt' | 'unsupported';
  error?: { code: string; field?: string; message: string };
  version?: number;
  /** The META value (kvpack generate: the prompt and codec), when the file has one. */
  meta?: unknown;
  sections: { tag: string; count: number; bytes: number }[];
  layers: {
    kind: 'packed' | 'qaq'; nKvHeads: number; headDim: number; window: number; sinks: number;
    key: string; value: string; calibrated: { key: boolean; value: boolean };
    sequences: { id: number; tokens: number; tiles: number; fpTokens: number }[];
  }[];
}

/** Reads a saved cache fully (every checksum, every bound) and describes it; never throws on bad bytes. */
export function inspectSavedCache(bytes: Uint8Array): CacheInspection {
  checkBytes(bytes, 'bytes'); // a wrong type is an error; bad bytes are reported
  const counts = new Map<string, { count: number; bytes: number }>();
  const obs: ReadObserver = {
    section(info) {
      const c = counts.get(info.tag) ?? { count: 0, bytes: 0 };
      c.count++;
      c.bytes += info.bytes + 12;
      counts.set(info.tag, c);
    },
  };
  const out: CacheInspection = { bytes: bytes.length, status: 'ok', sections: [], layers: [] };
  try {
    const file = pullSync(bytes, parseFile(obs));
    out.version = file.version;
    if (file.meta !== undefined) out.meta = file.meta;
    for (const l of file.layers) {
      if (l.kind === 'packed') {
        out.layers.push({
          kind: 'packed', nKvHeads: l.nKvHeads, headDim: l.headDim, window: l.window, sinks: l.sinks,
          key: l.key.name, value: l.value.name, calibrated: { key: l.key.calibration !== undefined, value: l.value.calibration !== undefined },
          sequences: l.sequences.map((s) => ({ id: s.id, tokens: s.sinkCount + s.tiles * TILE_TOKENS + s.tailCount, tiles: s.tiles, fpTokens: s.sinkCount + s.tailCount })),
        });
      } else {
        out.layers.push({
          kind: 'qaq', nKvHeads: l.nKvHeads, headDim: l.headDim, window: l.window, sinks: 0, key: 'qaq', value: 'qaq',
          calibrated: { key: false, value: false },
          sequences: l.sequences.map((s) => ({ id: s.id, tokens: s.tiles * TILE_TOKENS + s.tailCount, tiles: s.tiles, fpTokens: s.tailCount })),
        });
      }
    }
  } catch (e) {
    if (!(e instanceof KvpackError)) throw e;
    out.status = e.code === 'UNSUPPORTED_VERSION' ? 'unsupported' : 'corrupt';
    out.error = { code: e.code, ...(e.arg !== undefined ? { field: e.arg } : {}), message: e.message };
  }
  out.sections = [...counts].map(([tag, c]) => ({ tag: tag.trim(), ...c }));
  return out;
}

const kib = (b: number): string => b < 10240 ? `${b} B` : `${(b / 1024).toFixed(1)} KiB`;

/** The human-readable form `kvpack inspect` prints. */
export function formatInspection(x: CacheInspection, name = 'file'): string {
  const lines = [`${name}: ${kib(x.bytes)}, kvpack saved cache format ${x.version ?? '?'} (this kvpack reads ${SAVE_FORMAT_VERSION})`];
  x.layers.forEach((l, i) => {
    const tokens = l.sequences.reduce((a, s) => a + s.tokens, 0);
    lines.push(`layer ${i}: ${l.kind}, ${l.nKvHeads} KV heads x head_dim ${l.headDim}, window ${l.window}, sinks ${l.sinks}; ` +
      `key ${l.key}${l.calibrated.key ? ' (calibrated)' : ''}, value ${l.value}${l.calibrated.value ? ' (calibrated)' : ''}; ` +
      `${l.sequences.length} sequence(s), ${tokens} tokens`);
    for (const s of l.sequences.slice(0, 8)) lines.push(`  seq ${s.id}: ${s.tokens} tokens (${s.tiles} sealed tiles, ${s.fpTokens} fp32)`);
    if (l.sequences.length > 8) lines.push(`  ... ${l.sequences.length - 8} more`);
  });
  if (x.meta !== undefined) {
    const m = JSON.stringify(x.meta, (_k, v: unknown) => (ArrayBuffer.isView(v) ? `<${(v as Uint8Array).length} values>` : v));
    lines.push(`meta: ${m.length > 200 ? `${m.slice(0, 200)}...` : m}`);
  }
  lines.push('sections: ' + x.sections.map((s) => `${s.tag} x${s.count} ${kib(s.bytes)}`).join(', '));
  lines.push(x.status === 'ok' ? 'checksums: all sections OK' : `status: ${x.status}: ${x.error!.message} [${x.error!.code}]`);
  return lines.join('\n');
}
