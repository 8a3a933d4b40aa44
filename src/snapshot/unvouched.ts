/**
 * Big files snapline copied in the second they were last changed (the usual agent step: the tool
 * wrote them, the hook copies them at once). Their stat data is not vouched for yet (pending.ts):
 * git compares whole seconds, so a same-size rewrite later in that second would look unchanged.
 * Put into the index as they are, they would be racy, and every git that reads the index would
 * hash them again (git's SHA-1: ~1 s for 224 MiB, at the turn's end check) until an index is
 * written in a later second. So their entries keep zero stat data (git lists them as changed
 * without reading them), and this file beside the index records their stat data to the
 * nanosecond, as GNU `stat -c '%f %s %i %d %.9Y %.9Z %n'` prints it:
 *
 *   <index fingerprint>
 *   <mode hex> <size> <inode> <device> <mtime s.ns> <ctime s.ns> <path>
 *
 * A file whose stat data still equals its line was not written since its copy (the copy began
 * more than the timestamps' lag after its last change, so any later write stamps other times):
 * track's scan and the no-change scripts (no-change.sh) take it as unchanged. The record holds
 * only for the index named on its first line; any other index ignores it (its entries are then
 * changed files, copied again). The sealer's pass, in a later second, puts the files' stat data
 * into the index and removes the record (track.ts, refreshRacyLocked).
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const UNVOUCHED_FILE = 'snapline-unvouched';

/** A recorded file: its path (git's bytes) and its stat line (without the path). */
export interface UnvouchedFile {
  path: Buffer;
  line: string;
}

/** The stat line GNU `stat -c '%f %s %i %d %.9Y %.9Z'` prints for `st`. */
export function statLine(st: BigIntStats): string {
  const time = (ns: bigint) => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
  return `${st.mode.toString(16)} ${st.size} ${st.ino} ${st.dev} ${time(st.mtimeNs)} ${time(st.ctimeNs)}`;
}

/**
 * The record's files (path bytes in hex → file) when it names the index whose fingerprint
 * `fingerprint` gives (asked only when there is a record); else empty.
 */
export async function readUnvouched(storeDir: string, fingerprint: () => Promise<string | undefined>): Promise<Map<string, UnvouchedFile>> {
  const files = new Map<string, UnvouchedFile>();
  const text = await readFile(join(storeDir, UNVOUCHED_FILE)).catch(() => undefined);
  if (!text) return files;
  const nl = text.indexOf(10);
  const named = nl < 0 ? undefined : await fingerprint();
  if (!named || text.toString('latin1', 0, nl) !== named) return files;
  for (let at = nl + 1; at < text.length; ) {
    const end = text.indexOf(10, at);
    if (end < 0) return new Map(); // cut short: not written by writeUnvouched
    let sp = at;
    for (let field = 0; field < 6 && sp >= 0; field++) sp = text.indexOf(32, sp) + 1 || -1;
    if (sp < 0 || sp > end) return new Map();
    const path = Buffer.from(text.subarray(sp, end));
    files.set(path.toString('hex'), { path, line: text.toString('latin1', at, sp - 1) });
    at = end + 1;
  }
  return files;
}

/**
 * Records `files` for the index `fingerprint` (written aside and renamed: a killed writer leaves
 * the old record or the new one), or removes the record when there are none. Paths holding a
 * newline cannot be recorded: they are left out (their entries are copied again at the next scan).
 */
export async function writeUnvouched(storeDir: string, fingerprint: string | undefined, files: UnvouchedFile[]): Promise<void> {
  const file = join(storeDir, UNVOUCHED_FILE);
  const recordable = files.filter((f) => !f.path.includes(10));
  if (!fingerprint || recordable.length === 0) {
    await rm(file, { force: true });
    return;
  }
  const tmp = `${file}.tmp`;
  await writeFile(tmp, Buffer.concat([Buffer.from(`${fingerprint}\n`), ...recordable.flatMap((f) => [Buffer.from(`${f.line} `), f.path, Buffer.from('\n')])]));
  await rename(tmp, file);
}

/** The file's stat line now, or undefined when it cannot be read. */
export async function currentLine(abs: Buffer): Promise<string | undefined> {
  return lstat(abs, { bigint: true }).then(statLine, () => undefined);
}
