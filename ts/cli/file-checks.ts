import { access, constants, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KvpackError } from '../errors.js';

/**
 * Up-front checks of a command's file flags, so a long run does not end in a raw ENOENT stack
 * trace (issue 18): an input that cannot be read, an output whose folder is missing or not
 * writable, are BAD_PARAM naming the flag, before any work.
 */
export async function checkReadable(path: string, flag: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
    if ((await stat(path)).isDirectory()) throw new KvpackError('BAD_PARAM', `${path} is a folder, not a file`, flag);
  } catch (e) {
    if (e instanceof KvpackError) throw e;
    throw new KvpackError('BAD_PARAM', `cannot read ${path}: ${fsReason(e)}`, flag);
  }
}

export async function checkWritable(path: string, flag: string): Promise<void> {
  const dir = dirname(resolve(path));
  try {
    const s = await stat(path).catch(() => undefined);
    if (s?.isDirectory()) throw new KvpackError('BAD_PARAM', `${path} is a folder; give a file name`, flag);
    await access(s ? path : dir, constants.W_OK);
  } catch (e) {
    if (e instanceof KvpackError) throw e;
    throw new KvpackError('BAD_PARAM', `cannot write ${path}: ${fsReason(e)}`, flag);
  }
}

/** "no such file or folder (ENOENT)" from a Node fs error. */
export function fsReason(e: unknown): string {
  const code = (e as { code?: string } | undefined)?.code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or folder', EACCES: 'permission denied', EPERM: 'not permitted', EROFS: 'read-only file system',
    ENOTDIR: 'a part of the path is not a folder', EISDIR: 'is a folder', ENOSPC: 'no space left on the device',
  };
  return code ? `${words[code] ?? (e as Error).message} (${code})` : String((e as Error)?.message ?? e);
}
