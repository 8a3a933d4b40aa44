/**
 * snapline as a library: the same operations the CLI runs, with typed results.
 *   - diff:     numstatBetween / numstatStream / patchStream over any two tree-ishes
 *   - snapshot: track / restore / retain / release / gc / du / doctor / storeContext
 *   - session:  openDatabase / runTurn / showSession / revertSession / … (OpenCode's table layout, in SQLite or PostgreSQL)
 */
export * from './errors.js';
export { openRepository, resolveTree, EMPTY_TREE } from './git/repo.js';
export { changedPaths, type TreeChange, type ChangeStatus, type Side } from './git/tree-diff.js';
export { openObjectReader, type ObjectReader, type ObjectStream } from './git/objects.js';
export type { GitContext } from './git/run.js';
export * from './diff/index.js';
export * from './snapshot/index.js';
export * from './session/index.js';
export { dataDir, databasePath, databaseLocation, snapshotRoot, loadConfig, ConfigError } from './config.js';
