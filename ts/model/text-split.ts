import { check } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';

/** Share of lines (from the end) that calibration takes; evaluation never sees them. */
export const CALIBRATION_FRACTION = 0.2;

export interface TextSplit {
  /** First lines: perplexity is measured here. */
  evaluation: string[];
  /** Last lines: codecs calibrate (and kvpack capture records) here. */
  calibration: string[];
}

/**
 * Splits a one-document-per-line text (TinyStories): the first floor(80%) non-empty lines for
 * evaluation, the rest for calibration. A calibration line identical to an evaluation line is
 * dropped, so the two never share a document even when the file repeats stories.
 */
export function splitText(text: string, calibrationFraction = CALIBRATION_FRACTION): TextSplit {
  check(calibrationFraction > 0 && calibrationFraction < 1, 'BAD_PARAM', `must be in (0, 1), got ${calibrationFraction}`, 'calibrationFraction');
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  check(lines.length >= 2, 'BAD_PARAM', `needs at least 2 non-empty lines, got ${lines.length}`, 'text');
  const nEval = Math.min(lines.length - 1, Math.max(1, Math.floor(lines.length * (1 - calibrationFraction))));
  const evaluation = lines.slice(0, nEval);
  const seen = new Set(evaluation);
  const calibration = lines.slice(nEval).filter((l) => !seen.has(l));
  return { evaluation, calibration };
}

/** One token stream: each line encoded with its own BOS (as llama2.c's TinyStories pretokenization), concatenated. */
export function tokenizeLines(tokenizer: Tokenizer, lines: readonly string[]): number[] {
  const out: number[] = [];
  for (const l of lines) for (const t of tokenizer.encode(l, { bos: true })) out.push(t);
  return out;
}

