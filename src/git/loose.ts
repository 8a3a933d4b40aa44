/**
 * Small loose objects (gitformat-loose(5)) read and written by snapline itself, for the few
 * objects it makes on every step (a session's holder tree and commit, see
 * src/snapshot/retention.ts): one git process each (`mktree`, `commit-tree`, `ls-tree`, ...)
 * costs more than the work. Only whole small objects; anything else is git's.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import { isObjectId } from './object-id.js';

/** Where a loose object lives in an objects directory. */
export function loosePath(objectsDir: string, oid: string): string {
  return join(objectsDir, oid.slice(0, 2), oid.slice(2));
}

/**
 * A loose object's type and body, or undefined when it is not stored loose (packed, absent)
 * or its body is over `maxBytes` (it is then not inflated).
 */
export async function readLooseObject(objectsDir: string, oid: string, maxBytes: number): Promise<{ type: string; body: Buffer } | undefined> {
  if (!isObjectId(oid)) return undefined;
  const data = await readFile(loosePath(objectsDir, oid)).catch(() => undefined);
  if (!data) return undefined;
  let raw: Buffer;
  try {
    raw = inflateSync(data, { maxOutputLength: maxBytes + 64 });
  } catch {
    return undefined; // larger than asked for, or damaged: git decides
  }
  const nul = raw.indexOf(0);
  const [type, size] = raw.subarray(0, Math.max(nul, 0)).toString('latin1').split(' ');
  if (nul < 0 || !type || Number(size) !== raw.length - nul - 1) return undefined;
  if (createHash('sha1').update(raw).digest('hex') !== oid) return undefined;
  return { type, body: raw.subarray(nul + 1) };
}

/**
 * Writes a whole object as a loose object (zlib at `level`, as core.looseCompression asks) and
 * returns its id. Written to a temporary file in the same directory and renamed: a killed
 * writer leaves a `tmp_obj_*` file (which gc removes), never a partial object.
 */
export async function writeLooseObject(objectsDir: string, type: string, body: Buffer, level: number): Promise<string> {
  const raw = Buffer.concat([Buffer.from(`${type} ${body.length}\0`, 'latin1'), body]);
  const oid = createHash('sha1').update(raw).digest('hex');
  const path = loosePath(objectsDir, oid);
  if (await stat(path).then(() => true, () => false)) return oid; // objects never change: it is there
  const dir = join(objectsDir, oid.slice(0, 2));
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `tmp_obj_${process.pid}_${oid.slice(2, 10)}`);
  const fh = await open(tmp, 'wx', 0o444);
  try {
    await fh.writeFile(deflateSync(raw, { level }));
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await chmod(tmp, 0o444);
  await rename(tmp, path);
  return oid;
}

/** The type of a loose object, from the head of its file alone; undefined when it is not stored loose. */
export async function looseType(objectsDir: string, oid: string): Promise<string | undefined> {
  if (!isObjectId(oid)) return undefined;
  const fh = await open(loosePath(objectsDir, oid), 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const head = Buffer.alloc(256);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const raw = inflateSync(head.subarray(0, bytesRead), { finishFlush: constants.Z_SYNC_FLUSH });
    const m = /^(blob|tree|commit|tag) \d+\0/.exec(raw.toString('latin1', 0, Math.min(raw.length, 32)));
    return m?.[1];
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

/** The entries of a tree object: mode (octal, as stored), name and object id. */
export function parseTree(body: Buffer): { mode: string; name: Buffer; oid: string }[] {
  const entries: { mode: string; name: Buffer; oid: string }[] = [];
  for (let i = 0; i < body.length; ) {
    const sp = body.indexOf(0x20, i);
    const nul = body.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 21 > body.length) throw new Error('malformed tree object');
    entries.push({ mode: body.toString('latin1', i, sp), name: body.subarray(sp + 1, nul), oid: body.toString('hex', nul + 1, nul + 21) });
    i = nul + 21;
  }
  return entries;
}
