/**
 * Writes the golden saved-cache file and its expected outputs (tests/serialize/golden.ts). Run
 * only on a deliberate format change: `npm run gen:golden-cache`.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { serializeCaches } from '../ts/index.js';
import { GOLDEN_EXPECTED, GOLDEN_FILE, goldenCaches, goldenOutputs } from '../tests/serialize/golden.js';

const caches = goldenCaches();
const bytes = serializeCaches(caches);
mkdirSync('tests/fixtures', { recursive: true });
writeFileSync(GOLDEN_FILE, bytes);
writeFileSync(GOLDEN_EXPECTED, JSON.stringify({ outputsF32Bits: goldenOutputs(caches) }) + '\n');
console.log(`wrote ${GOLDEN_FILE} (${bytes.length} bytes) and ${GOLDEN_EXPECTED}`);
