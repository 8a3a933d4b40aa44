/**
 * Turn summaries an agent's hook leaves to a background process: the hook returns first, every
 * reader completes what is pending (even after the summarizer was killed), two readers produce
 * one result, and the numbers are git's and the synchronous end's.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase, type Database } from '../src/session/db.js';
import { reportTurn } from '../src/session/report.js';
import { onPostgres } from './helpers/postgres.js';
import { alive } from './helpers/processes.js';
import { CLI } from './helpers/repo.js';
import { startServe, type ServeProcess } from './server-helpers.js';
import { gitNumstat, sessionFixture } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;
type Stat = { file: string; additions: number; deletions: number };

/** Big enough that comparing a turn takes a while (a kill lands mid-way), small enough for CI. */
const SIZES = { big1Bytes: 24 << 20, big2Bytes: 16 << 20, smallBytes: 256 << 10 };

/** A direct read of the database, bypassing snapline's readers (which complete pending work first). */
function raw<T>(f: Fixture, fn: (db: Database) => T): T {
  const db = openDatabase(onPostgres ? f.env.SNAPLINE_DATABASE_URL! : join(f.home, 'snapline.db'), { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function pendingRows(f: Fixture): { message_id: string; claim_pid: number | null }[] {
  return raw(f, (db) => db.prepare('SELECT message_id, claim_pid FROM summary_pending ORDER BY message_id').all() as { message_id: string; claim_pid: number | null }[]);
}

type Row = { id: string; data: { role: string; summary?: unknown; time: { completed?: number } } };
function rows(f: Fixture, table: 'message' | 'part'): Row[] {
  return raw(f, (db) => (db.prepare(`SELECT id, data FROM ${table} ORDER BY id`).all() as { id: string; data: string }[]).map((r) => ({ id: r.id, data: JSON.parse(String(r.data)) as Row['data'] })));
}

function hook(f: Fixture, event: Record<string, unknown>, env: NodeJS.ProcessEnv = f.env): void {
  const r = spawnSync(process.execPath, [CLI, 'hook', 'claude'], { cwd: f.dir, env, input: JSON.stringify({ session_id: 'agent-1', cwd: f.dir, ...event }), encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '', 'the hook reports no problem');
}

/** One turn of the report's workload through Claude Code's hooks (prompt, a Bash step, Stop). */
function agentTurn(f: Fixture, turn: number, env?: NodeJS.ProcessEnv): void {
  hook(f, { hook_event_name: 'UserPromptSubmit', prompt: `turn ${turn}` }, env);
  reportTurn(f.dir, turn, SIZES);
  appendFileSync(join(f.dir, 'src', 'main.txt'), `turn ${turn}\n`);
  hook(f, { hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'regenerate' } }, env);
  hook(f, { hook_event_name: 'Stop', stop_hook_active: false }, env);
}


interface ShownMessage {
  id: string;
  turn?: number;
  data: { role: string; summary?: { diffs: Stat[]; total: { files: number; additions: number; deletions: number } } };
  parts: { data: { type: string; snapshot?: string; files?: string[] } }[];
}
interface Shown {
  session: { id: string; summary: { files: number; additions: number; deletions: number } };
  messages: ShownMessage[];
}

/** Each turn: its user message, its first and last snapshot, its stored diffs and patch parts. */
function turnsOf(shown: Shown) {
  const users = shown.messages.filter((m) => m.data.role === 'user');
  return users.map((u) => {
    const parts = shown.messages.filter((m) => m.data.role === 'assistant' && m.turn === u.turn).flatMap((m) => m.parts);
    const snaps = parts.filter((p) => p.data.snapshot).map((p) => p.data.snapshot!);
    return { id: u.id, from: snaps[0]!, to: snaps.at(-1)!, diffs: u.data.summary?.diffs.map(({ file, additions, deletions }) => ({ file, additions, deletions })), patches: parts.filter((p) => p.data.type === 'patch').length };
  });
}

function show(f: Fixture): Shown {
  return JSON.parse(f.ok('session', 'show', '--format', 'json', '--limit', '1000')) as Shown;
}

/** The pid of the background summarizer once it has claimed the latest turn's row (undefined if it already finished). */
async function summarizerPid(f: Fixture): Promise<number | undefined> {
  const latest = rows(f, 'message').filter((m) => m.data.role === 'user').at(-1)!.id;
  for (let i = 0; i < 1000; i++) {
    const row = pendingRows(f).find((r) => r.message_id === latest);
    if (!row) return undefined;
    if (row.claim_pid !== null) return row.claim_pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no summarizer claimed the pending turn');
}

/** Kills a summarizer with SIGKILL and waits until it is gone; false if it had already exited. */
async function kill(pid: number | undefined): Promise<boolean> {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return false;
  }
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  return true;
}

test("a hook's end returns before the turn's summary exists; session show then gives summary.diffs equal to git numstat between the turn's snapshots", () => {
  const f = sessionFixture();
  try {
    agentTurn(f, 1);
    // Right after Stop returned: the turn is complete, its summary is pending (the summarizer has barely started).
    const [row] = pendingRows(f);
    assert.ok(row, 'the summary is pending after the hook returned');
    const [user, assistant] = rows(f, 'message');
    assert.equal(user!.id, row.message_id);
    assert.equal(user!.data.summary, undefined, 'no summary stored yet');
    assert.equal(typeof assistant!.data.time.completed, 'number', "the assistant message's completion is recorded by the hook itself");
    const [turn] = turnsOf(show(f));
    assert.deepEqual(turn!.diffs, gitNumstat(f, turn!.from, turn!.to));
    assert.deepEqual(turn!.diffs!.map((d) => d.file).sort(), ['build/.ninja_log', 'build/CMakeFiles/CMakeConfigureLog.yaml', 'build/build.ninja', 'src/main.txt']);
    assert.equal(turn!.patches, 1);
    assert.deepEqual(pendingRows(f), []);
  } finally {
    f.cleanup();
  }
});

test('the summarizer killed with SIGKILL mid-way: the next reader completes the summary, and session totals equal the synchronous end’s and git’s net numstat', async () => {
  const f = sessionFixture();
  const sync = sessionFixture();
  try {
    agentTurn(f, 1);
    await kill(await summarizerPid(f));
    agentTurn(f, 2);
    const pid = await summarizerPid(f);
    assert.ok(pid !== undefined, 'turn 2 is still being summarised');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(await kill(pid), 'killed mid-way');
    assert.ok(pendingRows(f).length >= 1, 'the killed summarizer left its turn pending');

    const shown = show(f);
    const turns = turnsOf(shown);
    assert.equal(turns.length, 2);
    for (const t of turns) {
      assert.deepEqual(t.diffs, gitNumstat(f, t.from, t.to));
      assert.equal(t.patches, 1, 'one patch part per turn');
    }
    const net = gitNumstat(f, turns[0]!.from, turns[1]!.to);
    const expected = { files: net.length, additions: net.reduce((n, s) => n + s.additions, 0), deletions: net.reduce((n, s) => n + s.deletions, 0) };
    assert.deepEqual(shown.session.summary, expected);
    assert.deepEqual(pendingRows(f), []);

    // The same two turns ended synchronously store the same summaries and totals.
    const syncEnv = { ...sync.env, SNAPLINE_DEFER_SUMMARY: '0' };
    agentTurn(sync, 1, syncEnv);
    agentTurn(sync, 2, syncEnv);
    assert.deepEqual(pendingRows(sync), [], 'SNAPLINE_DEFER_SUMMARY=0: nothing left pending');
    const syncShown = show(sync);
    assert.deepEqual(syncShown.session.summary, shown.session.summary);
    assert.deepEqual(turnsOf(syncShown).map((t) => t.diffs), turns.map((t) => t.diffs));
  } finally {
    f.cleanup();
    sync.cleanup();
  }
});

test('two readers at once complete a pending summary once: the same answer, one patch part; a later turn ended synchronously keeps its totals', async () => {
  const f = sessionFixture();
  try {
    agentTurn(f, 1);
    const pid = await summarizerPid(f);
    assert.ok(await kill(pid), 'the summarizer was killed while computing the summary');
    // Turn 2 is ended by `turn end` (synchronous) while turn 1 is still pending.
    f.ok('turn', 'begin', 'turn 2', '--agent', 'claude', '--agent-session', 'agent-1');
    appendFileSync(join(f.dir, 'src', 'main.txt'), 'by hand\n');
    f.ok('turn', 'end', '--agent', 'claude', '--agent-session', 'agent-1');

    const read = () =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, [CLI, 'session', 'show', '--format', 'json', '--limit', '1000'], { cwd: f.dir, env: f.env });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.on('error', reject);
        c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`session show exited ${code}`))));
      });
    const [a, b] = await Promise.all([read(), read()]);
    const shownA = JSON.parse(a) as Shown;
    const shownB = JSON.parse(b) as Shown;
    assert.deepEqual(turnsOf(shownA), turnsOf(shownB));
    assert.deepEqual(shownA.session.summary, shownB.session.summary);
    const turns = turnsOf(shownA);
    assert.deepEqual(turns.map((t) => t.patches), [1, 1]);
    for (const t of turns) assert.deepEqual(t.diffs, gitNumstat(f, t.from, t.to));
    // The totals are turn 2's end (the latest), not turn 1's, though turn 1 was summarised last.
    const net = gitNumstat(f, turns[0]!.from, turns[1]!.to);
    assert.deepEqual(shownA.session.summary, { files: net.length, additions: net.reduce((n, s) => n + s.additions, 0), deletions: net.reduce((n, s) => n + s.deletions, 0) });
  } finally {
    f.cleanup();
  }
});

test('a turn discarded by a revert while its summary is pending is not brought back by a summarizer', async () => {
  const f = sessionFixture();
  try {
    agentTurn(f, 1);
    const pid = await summarizerPid(f);
    assert.ok(await kill(pid), 'the summarizer was killed while computing the summary');
    const first = rows(f, 'message')[0]!.id;
    f.ok('session', 'revert', '--message', first, '--force');
    // The next prompt drops the reverted turn for good (its pending summary with it).
    hook(f, { hook_event_name: 'UserPromptSubmit', prompt: 'again' });
    assert.deepEqual(pendingRows(f).filter((r) => r.message_id === first), []);
    execFileSync(process.execPath, [CLI, 'summarize'], { cwd: f.dir, env: f.env });
    assert.ok(!rows(f, 'message').some((m) => m.id === first), 'the reverted turn stays deleted');
    assert.equal(rows(f, 'part').filter((p) => (p.data as unknown as { type: string }).type === 'patch').length, 0);
  } finally {
    f.cleanup();
  }
});

test("the server's session and message endpoints complete a pending summary before they answer", async () => {
  const f = sessionFixture();
  let server: ServeProcess | undefined;
  try {
    agentTurn(f, 1);
    const pid = await summarizerPid(f);
    assert.ok(await kill(pid), 'the summarizer was killed while computing the summary');
    agentTurn(f, 2, { ...f.env, SNAPLINE_DEFER_SUMMARY: '0' });
    const [first, second] = rows(f, 'message').filter((m) => m.data.role === 'user');
    // Turn 1 is still pending: its summarizer was killed, and turn 2's synchronous hooks start none.
    assert.deepEqual(pendingRows(f).map((r) => r.message_id), [first!.id]);
    server = await startServe(f.dir, f.env);
    const sessions = (await (await fetch(`${server.url}/session`)).json()) as { id: string; summary: { files: number; additions: number; deletions: number } }[];
    const message = (await (await fetch(`${server.url}/session/${sessions[0]!.id}/message/${first!.id}`)).json()) as { info: { summary?: { diffs: Stat[] } } };
    assert.deepEqual(pendingRows(f), []);
    const shown = show(f);
    const turns = turnsOf(shown);
    assert.equal(turns[1]!.id, second!.id);
    assert.deepEqual(message.info.summary?.diffs.map(({ file, additions, deletions }) => ({ file, additions, deletions })), gitNumstat(f, turns[0]!.from, turns[0]!.to));
    const net = gitNumstat(f, turns[0]!.from, turns[1]!.to);
    assert.deepEqual(sessions[0]!.summary, { files: net.length, additions: net.reduce((n, s) => n + s.additions, 0), deletions: net.reduce((n, s) => n + s.deletions, 0) });
  } finally {
    await server?.stop();
    f.cleanup();
  }
});
