import { isAbsolute } from 'node:path';
import { resolveWorkspace } from '../snapshot/store.js';
import { CorruptRow } from './errors.js';
import type { SessionInfo } from './store.js';

/**
 * The workspace a session belongs to. The row is checked like any external input: a directory
 * that is not absolute is a damaged row, and `/` or the home directory (which `run` never
 * records) is refused rather than snapshotted or restored.
 */
export async function sessionWorkspace(s: SessionInfo): Promise<string> {
  if (!isAbsolute(s.directory)) throw new CorruptRow('session', s.id, `directory '${s.directory}' is not an absolute path`);
  return resolveWorkspace(s.directory, false);
}
