/** The diff engine: git-exact +/- numbers and streamed patches for files of any size, in bounded memory. */
export { numstatBetween, numstatStream, statChange, openReaderPair, filePairs, type FileStat, type DiffStat, type NumstatOptions } from './numstat.js';
export { detectRenames, similarityPercent, DEFAULT_RENAME_LIMIT, type FilePair, type RenameOptions, type RenameResult } from './renames.js';
export { parseRenameScore, MAX_SCORE, DEFAULT_RENAME_SCORE } from './similarity.js';
export { patchStream, parseCursor, formatCursor, type PatchOptions, type PatchCursor, type PatchStream } from './patch.js';
export { compareBlobs, countLines, BIG_FILE_THRESHOLD, DEFAULT_BUDGET, type BlobRef, type Comparison, type CompareOptions } from './compare.js';
export { formatStat, displayName } from './stat.js';
export { quotePath } from './quote.js';
