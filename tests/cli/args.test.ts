import { describe, expect, it } from 'vitest';
import { describeFlags, parseFlags } from '../../ts/cli/args.js';
import { KvpackError } from '../../ts/errors.js';
import { defaultPairings, defaultSelection, parsePairings } from '../../ts/demo/pairings.js';
import type { CodecInfo } from '../../ts/codecs/types.js';

const SPECS = {
  tokens: { type: 'int', default: 8, min: 1, max: 100, help: 'n' },
  ratio: { type: 'float', help: 'r' },
  mode: { type: 'string', choices: ['a', 'b'], help: 'm' },
  codecs: { type: 'list', help: 'c' },
  json: { type: 'bool', help: 'j' },
} as const;

function badFlag(argv: string[]): KvpackError {
  try {
    parseFlags(argv, SPECS);
  } catch (e) {
    expect(e).toBeInstanceOf(KvpackError);
    expect((e as KvpackError).code).toBe('BAD_PARAM');
    return e as KvpackError;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parseFlags', () => {
  it('parses both --x v and --x=v, keeps defaults, collects positionals', () => {
    const f = parseFlags(['--tokens', '12', '--ratio=0.5', 'file.txt', '--codecs', 'a, b,', '--json', '--mode=b'], SPECS);
    expect(f.tokens).toBe(12);
    expect(f.ratio).toBe(0.5);
    expect(f.codecs).toEqual(['a', 'b']);
    expect(f.json).toBe(true);
    expect(f.mode).toBe('b');
    expect(f.positional).toEqual(['file.txt']);
    const d = parseFlags([], SPECS);
    expect([d.tokens, d.ratio, d.json, d.help]).toEqual([8, undefined, false, false]);
    expect(parseFlags(['-h'], SPECS).help).toBe(true);
  });

  it('rejects bad values with BAD_PARAM naming the flag', () => {
    expect(badFlag(['--tokens', '1.5']).arg).toBe('--tokens');
    expect(badFlag(['--tokens', '']).arg).toBe('--tokens');
    expect(badFlag(['--tokens', '0']).message).toMatch(/\[1, 100\]/);
    expect(badFlag(['--tokens', '101']).arg).toBe('--tokens');
    expect(badFlag(['--ratio', 'abc']).arg).toBe('--ratio');
    expect(badFlag(['--ratio', 'Infinity']).arg).toBe('--ratio');
    expect(badFlag(['--mode', 'c']).message).toMatch(/one of a, b/);
    expect(badFlag(['--codecs', ' , ']).arg).toBe('--codecs');
    expect(badFlag(['--json=yes']).arg).toBe('--json');
    expect(badFlag(['--tokens']).message).toMatch(/needs a value/);
    expect(badFlag(['--nope', '1']).arg).toBe('--nope');
  });

  it('describes flags with defaults', () => {
    const text = describeFlags(SPECS);
    expect(text).toMatch(/--tokens <int>\s+n \(default 8\)/);
    expect(text).toMatch(/--json\s+j/);
  });
});

describe('demo pairings', () => {
  const info = (name: string, streams: ('key' | 'value')[]): CodecInfo =>
    ({ name, summary: '', streams, needsCalibration: false, create: () => { throw new Error('unused'); } });

  it('parses codec and key/value items', () => {
    expect(parsePairings(['kivi2', 'kivi4/kivi2'])).toEqual([
      { label: 'kivi2', key: 'kivi2', value: 'kivi2' },
      { label: 'kivi4/kivi2', key: 'kivi4', value: 'kivi2' },
    ]);
    for (const bad of ['a/b/c', '/b', 'a/']) {
      expect(() => parsePairings([bad])).toThrowError(expect.objectContaining({ code: 'BAD_PARAM', arg: '--codecs' }));
    }
  });

  it('default selection keeps only the headline configurations of slow families', () => {
    const sel = defaultSelection([info('kivi2', ['key', 'value']), info('cq-2c8b', ['key', 'value']), info('cq-8c8b', ['key', 'value']),
      info('cq-4c8b', ['key', 'value'])]);
    expect(sel.pairings.map((p) => p.label)).toEqual(['kivi2', 'cq-8c8b', 'cq-4c8b']);
    expect(sel.leftOut).toEqual(['cq-2c8b']);
    // a family none of whose headline members is registered keeps everything
    expect(defaultSelection([info('cq-2c8b', ['key', 'value'])]).pairings).toHaveLength(1);
  });

  it('covers every codec, pairs split K/V codecs within their family (else with fp16), adds mixed pairs only when registered', () => {
    const ps = defaultPairings([info('fp16', ['key', 'value']), info('kivi4', ['key', 'value']), info('kivi2', ['key', 'value']),
      info('konly', ['key']), info('vonly', ['value']), info('fam-k2', ['key']), info('fam-k4', ['key']), info('fam-v2', ['value']),
      info('fam-v1.5', ['value'])]);
    expect(ps.map((p) => p.label)).toEqual(['fp16', 'kivi4', 'kivi2', 'konly/fp16', 'fp16/vonly',
      'fam-k2/fam-v2', 'fam-k2/fam-v1.5', 'fam-k4/fam-v2', 'fam-k4/fam-v1.5', 'kivi4/kivi2']);
  });
});
