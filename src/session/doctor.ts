/** `snapshot doctor` with the session database: damaged objects named by the sessions and turns that use them. */
import { existsSync } from 'node:fs';
import { databaseLocation, databasePath } from '../config.js';
import { doctor, resolveWorkspace, type DamagedObject, type DoctorOptions, type DoctorReport } from '../snapshot/index.js';
import { openDatabase, type Database } from './db.js';
import { jsonText } from './sql.js';
import { listSessions, listTurns, sessionSnapshots } from './store.js';

/** A session whose snapshots reach a damaged object, and the turns those snapshots belong to. */
export interface AffectedSession {
  id: string;
  /** Turns (1-based number and user message id) whose snapshots reach the object. */
  turns: { number: number; messageID: string }[];
  /** The snapshot taken before the session's revert reaches it (unrevert would fail). */
  revert?: boolean;
  /** The store retains snapshots for this session but the database has no such session. */
  unknown?: boolean;
}

export interface SessionDoctorReport extends Omit<DoctorReport, 'damaged'> {
  damaged: (DamagedObject & { sessions: AffectedSession[] })[];
}

/**
 * Checks the workspace's snapshot store (`doctor` in src/snapshot) including every snapshot the
 * workspace's sessions name, and says for each damaged object which sessions and turns use it.
 */
export async function doctorWithSessions(worktree: string, opts: DoctorOptions & { db?: Database } = {}): Promise<SessionDoctorReport> {
  // No database yet (snapshots taken without sessions): nothing to map to, and nothing to create.
  const location = databaseLocation();
  if (!opts.db && location === databasePath() && !existsSync(location)) {
    const report = await doctor(worktree, opts);
    return { ...report, damaged: report.damaged.map((d) => ({ ...d, sessions: d.uses.map((u) => ({ id: u.session, turns: [], unknown: true })) })) };
  }
  const db = opts.db ?? openDatabase(location);
  try {
    const real = await resolveWorkspace(worktree, opts.force ?? false);
    const sessions = listSessions(db, { directory: real });
    const expected = sessions.map((s) => ({ session: s.id, snapshots: [...sessionSnapshots(db, s.id), ...(s.revert ? [s.revert.snapshot] : [])] }));
    const report = await doctor(worktree, { ...opts, expected });
    const known = new Map(sessions.map((s) => [s.id, s]));
    const turnsOf = new Map<string, Map<string, { number: number; messageID: string }[]>>();
    const damaged = report.damaged.map((d) => ({
      ...d,
      sessions: d.uses.map((u): AffectedSession => {
        const s = known.get(u.session);
        if (!s) return { id: u.session, turns: [], unknown: true };
        const bySnapshot = turnsOf.get(s.id) ?? turnsOf.set(s.id, turnsBySnapshot(db, s.id)).get(s.id)!;
        const turns = new Map<number, { number: number; messageID: string }>();
        for (const tree of u.snapshots) for (const t of bySnapshot.get(tree) ?? []) turns.set(t.number, t);
        const affected: AffectedSession = { id: s.id, turns: [...turns.values()].sort((a, b) => a.number - b.number) };
        if (s.revert && u.snapshots.includes(s.revert.snapshot)) affected.revert = true;
        return affected;
      }),
    }));
    return { ...report, damaged };
  } finally {
    if (!opts.db) db.close();
  }
}

/** For each snapshot a session's step parts name, the turns (number, user message) it belongs to. */
function turnsBySnapshot(db: Database, sessionId: string): Map<string, { number: number; messageID: string }[]> {
  const turnOf = new Map<string, { number: number; messageID: string }>();
  listTurns(db, sessionId).forEach((t, i) => {
    for (const a of t.assistants) turnOf.set(a, { number: i + 1, messageID: t.id });
  });
  const rows = db
    .prepare(
      `SELECT message_id AS mid, ${jsonText(db, 'data', '$.snapshot')} AS snapshot FROM part
       WHERE session_id = ? AND ${jsonText(db, 'data', '$.type')} IN ('step-start', 'step-finish')`,
    )
    .all(sessionId) as { mid: string; snapshot: unknown }[];
  const out = new Map<string, { number: number; messageID: string }[]>();
  for (const r of rows) {
    const turn = turnOf.get(r.mid);
    if (!turn || typeof r.snapshot !== 'string') continue;
    const list = out.get(r.snapshot) ?? out.set(r.snapshot, []).get(r.snapshot)!;
    if (!list.some((t) => t.number === turn.number)) list.push(turn);
  }
  return out;
}
