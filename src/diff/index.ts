/** The diff engine: git-exact +/- numbers and streamed patches for files of any size, in bounded memory. */
export { numstatBetween, numstatStream, statChange, openReaderPair, type FileStat, type NumstatOptions } from './numstat.js';
export { patchStream, parseCursor, formatCursor, type PatchOptions, type PatchCursor, type PatchStream } from './patch.js';
export { compareBlobs, countLines, BIG_FILE_THRESHOLD, DEFAULT_BUDGET, type BlobRef, type Comparison, type CompareOptions } from './compare.js';
export { formatStat } from './stat.js';
export { quotePath } from './quote.js';
