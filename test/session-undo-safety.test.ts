/**
 * Undo you can trust: revert and unrevert never overwrite a file changed outside the session
 * without --force (and then keep it, with a command that brings it back), --dry-run says exactly
 * what a real run does, and a turn killed mid-way is recovered so that reverting it really undoes it.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { fixture, sessionOf, sleep, workspaceState, type Fixture, type Run } from './reliability-lib.js';

interface UndoJson {
  written: string[];
  deleted: string[];
  edited: string[];
  dryRun?: true;
  backup?: { snapshot: string; command: string };
}

async function userMessages(f: Fixture, sid: string): Promise<string[]> {
  const rows = JSON.parse(await f.ok(['db', '--format', 'json', `SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`])) as { id: string }[];
  return rows.map((r) => r.id);
}

async function revertState(f: Fixture, sid: string): Promise<string | null> {
  return (JSON.parse(await f.ok(['db', '--format', 'json', `SELECT revert FROM session WHERE id = '${sid}'`])) as { revert: string | null }[])[0]!.revert;
}

function read(f: Fixture, path: string): string | null {
  return existsSync(join(f.dir, path)) ? readFileSync(join(f.dir, path), 'utf8') : null;
}

/** Every file of the workspace (outside .git) with its content and mtime: proof that nothing was written. */
function untouched(f: Fixture): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, blob] of workspaceState(f.dir)) out.set(path, `${blob} ${statSync(join(f.dir, path)).mtimeMs}`);
  return out;
}

/** A failed call: non-zero exit, one line on stderr, which is returned. */
function refusal(r: Run): string {
  assert.notEqual(r.status, 0, `expected a refusal, got exit 0: ${r.stdout}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.doesNotMatch(lines[0]!, /internal error/);
  return lines[0]!;
}

/** Runs a printed shell command with `snapline` on PATH meaning the built CLI. */
function runPrinted(f: Fixture, command: string): void {
  const bin = mkdtempSync(join(tmpdir(), 'snapline-bin-'));
  try {
    writeFileSync(join(bin, 'snapline'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'snapline'), 0o755);
    const r = spawnSync('bash', ['-c', command], { cwd: tmpdir(), env: { ...f.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
    assert.equal(r.status, 0, `${command}: ${r.stderr}`);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

test('unrevert refuses to overwrite a file edited after the revert; --dry-run shows it; --force keeps it and prints a command that brings it back', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'NOTES.md'), 'notes\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo session >> NOTES.md; echo x > other.txt']));
    const [turn] = await userMessages(f, sid);
    await f.ok(['session', 'revert', sid, '--message', turn!]);
    assert.equal(read(f, 'NOTES.md'), 'notes\n');
    assert.equal(read(f, 'other.txt'), null);

    writeFileSync(join(f.dir, 'NOTES.md'), 'notes\nkeep\n', { flag: 'w' });
    const before = untouched(f);
    const line = refusal(await f.cli(['session', 'unrevert', sid]));
    assert.match(line, /NOTES\.md/);
    assert.match(line, /--force/);
    assert.match(line, /--dry-run/);
    assert.deepEqual(untouched(f), before, 'a refused unrevert writes nothing');
    assert.notEqual(await revertState(f, sid), null, 'the session stays reverted');

    const dry = JSON.parse(await f.ok(['session', 'unrevert', sid, '--dry-run', '--format', 'json'])) as UndoJson;
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.edited, ['NOTES.md']);
    assert.deepEqual([...dry.written].sort(), ['NOTES.md', 'other.txt']);
    assert.deepEqual(dry.deleted, []);
    assert.deepEqual(untouched(f), before, '--dry-run writes nothing');

    const forced = JSON.parse(await f.ok(['session', 'unrevert', sid, '--force', '--format', 'json'])) as UndoJson;
    assert.deepEqual([...forced.written].sort(), [...dry.written].sort(), 'the dry run listed exactly what --force wrote');
    assert.deepEqual(forced.deleted, dry.deleted);
    assert.equal(read(f, 'NOTES.md'), 'notes\nsession\n');
    assert.equal(read(f, 'other.txt'), 'x\n');
    assert.equal(await revertState(f, sid), null);
    assert.ok(forced.backup, 'a forced unrevert names its backup');
    assert.match(forced.backup.command, /^snapline snapshot restore [0-9a-f]{40} --dir \S+ -- NOTES\.md$/);

    // The printed command, run by a shell, brings the hand edit back and touches nothing else.
    runPrinted(f, forced.backup.command);
    assert.equal(read(f, 'NOTES.md'), 'notes\nkeep\n');
    assert.equal(read(f, 'other.txt'), 'x\n');
    // The backup is retained for the session: gc --prune-now keeps it.
    await f.ok(['snapshot', 'gc', '--dir', f.dir, '--prune-now']);
    writeFileSync(join(f.dir, 'NOTES.md'), 'scratch\n');
    runPrinted(f, forced.backup.command);
    assert.equal(read(f, 'NOTES.md'), 'notes\nkeep\n');
  } finally {
    f.cleanup();
  }
});

test("revert refuses to overwrite a file edited after the session's last turn, also when already reverted; edits elsewhere do not block it", async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'mine.txt'), 'mine\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo 1 > a.txt; echo b1 > b.txt']));
    await f.ok(['run', 'two', '--session', sid, '--exec', 'echo 2 >> a.txt; echo c > c.txt']);
    const [t1, t2] = await userMessages(f, sid);

    // A hand edit of a path turn 2 changed: refused, nothing written, not reverted.
    writeFileSync(join(f.dir, 'a.txt'), '1\n2\nhand\n');
    let before = untouched(f);
    const line = refusal(await f.cli(['session', 'revert', sid, '--message', t2!]));
    assert.match(line, /1 file changed outside the session.*: a\.txt;/);
    assert.deepEqual(untouched(f), before);
    assert.equal(await revertState(f, sid), null);

    // Once the file is as the session left it again, revert proceeds; a hand edit of a file the
    // session never touched does not block it and is not written.
    writeFileSync(join(f.dir, 'a.txt'), '1\n2\n');
    writeFileSync(join(f.dir, 'mine.txt'), 'mine, edited\n');
    const r = JSON.parse(await f.ok(['session', 'revert', sid, '--message', t2!, '--format', 'json'])) as UndoJson;
    assert.deepEqual(r.written, ['a.txt']);
    assert.deepEqual(r.deleted, ['c.txt']);
    assert.deepEqual(r.edited, []);
    assert.equal(read(f, 'mine.txt'), 'mine, edited\n');

    // Reverted already: a hand-made file where the earlier revert deleted one. Reverting further
    // back would first undo that revert (writing c.txt): refused before any write.
    writeFileSync(join(f.dir, 'c.txt'), 'mine too\n');
    before = untouched(f);
    const again = refusal(await f.cli(['session', 'revert', sid, '--message', t1!]));
    assert.match(again, /c\.txt/);
    assert.deepEqual(untouched(f), before, 'nothing written, not even the undo of the earlier revert');

    // --force: done, and the hand-made file comes back with the printed command.
    const forced = JSON.parse(await f.ok(['session', 'revert', sid, '--message', t1!, '--force', '--format', 'json'])) as UndoJson;
    assert.deepEqual(forced.edited, ['c.txt']);
    assert.equal(read(f, 'a.txt'), null);
    assert.equal(read(f, 'b.txt'), null);
    assert.equal(read(f, 'c.txt'), null);
    assert.deepEqual([...forced.deleted].sort(), ['a.txt', 'b.txt', 'c.txt']);
    runPrinted(f, forced.backup!.command);
    assert.equal(read(f, 'c.txt'), 'mine too\n');
    // That file is now an edit made after the revert: unrevert refuses to overwrite it.
    assert.match(refusal(await f.cli(['session', 'unrevert', sid])), /unrevert .*: c\.txt;/);
    rmSync(join(f.dir, 'c.txt'));
    // Unrevert puts back the state just before this revert: the earlier revert undone.
    await f.ok(['session', 'unrevert', sid]);
    assert.equal(read(f, 'a.txt'), '1\n2\n');
    assert.equal(read(f, 'b.txt'), 'b1\n');
    assert.equal(read(f, 'c.txt'), 'c\n');
    assert.equal(read(f, 'mine.txt'), 'mine, edited\n');
  } finally {
    f.cleanup();
  }
});

test('--dry-run lists exactly the files a real revert and unrevert then write and delete, and writes nothing', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'keep.txt'), 'k\n');
    writeFileSync(join(f.dir, 'gone.txt'), 'g\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo k2 >> keep.txt; rm gone.txt; mkdir -p d; echo n > d/new.txt; echo same > same.txt']));
    await f.ok(['run', 'two', '--session', sid, '--exec', 'echo t > two.txt']);
    const [t1] = await userMessages(f, sid);
    const before = untouched(f);
    const dryText = await f.ok(['session', 'revert', sid, '--message', t1!, '--dry-run']);
    const dry = JSON.parse(await f.ok(['session', 'revert', sid, '--message', t1!, '--dry-run', '--format', 'json'])) as UndoJson;
    assert.deepEqual(untouched(f), before, '--dry-run writes nothing');
    assert.equal(await revertState(f, sid), null, '--dry-run records no revert');
    const real = JSON.parse(await f.ok(['session', 'revert', sid, '--message', t1!, '--format', 'json'])) as UndoJson;
    assert.deepEqual([...dry.written].sort(), [...real.written].sort());
    assert.deepEqual([...dry.deleted].sort(), [...real.deleted].sort());
    assert.deepEqual([...real.written].sort(), ['gone.txt', 'keep.txt']);
    assert.deepEqual([...real.deleted].sort(), ['d/new.txt', 'same.txt', 'two.txt']);
    for (const p of real.written) assert.match(dryText, new RegExp(`would write +${p.replace('.', '\\.')}\\n`));
    for (const p of real.deleted) assert.match(dryText, new RegExp(`would delete +${p.replace('.', '\\.')}\\n`));

    const mid = untouched(f);
    const undry = JSON.parse(await f.ok(['session', 'unrevert', sid, '--dry-run', '--format', 'json'])) as UndoJson;
    assert.deepEqual(untouched(f), mid);
    const unText = await f.ok(['session', 'unrevert', sid]);
    assert.deepEqual([...undry.written].sort(), ['d/new.txt', 'keep.txt', 'same.txt', 'two.txt']);
    assert.deepEqual([...undry.deleted].sort(), ['gone.txt']);
    assert.match(unText, /^unrevert of \S+: 4 written, 1 deleted\n/);
    for (const p of undry.written) assert.match(unText, new RegExp(`written +${p.replace('.', '\\.')}\\n`));
    assert.match(unText, /deleted +gone\.txt\n/);
    assert.equal(read(f, 'keep.txt'), 'k\nk2\n');
    assert.equal(read(f, 'gone.txt'), null);
  } finally {
    f.cleanup();
  }
});

/** Starts a turn whose command writes files then sleeps, and SIGKILLs the whole process group once they exist. */
async function killedTurn(f: Fixture, sid: string, write: string, marker: string): Promise<void> {
  const p = f.start(['run', 'killed', '--session', sid, '--format', 'json', '--exec', `${write}; sleep 30`]);
  for (let i = 0; i < 800 && !existsSync(join(f.dir, marker)); i++) await sleep(25);
  assert.ok(existsSync(join(f.dir, marker)), 'the command ran');
  process.kill(-p.pid, 'SIGKILL');
  const r = await p.done;
  assert.equal(r.signal, 'SIGKILL');
}

interface PartRow {
  message_id: string;
  data: string;
}

test('a turn killed after its command ran is recovered with an end snapshot by the next command; reverting it restores the files', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'base\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo one > one.txt']));
    await killedTurn(f, sid, 'echo changed > a.txt; echo new > n.txt', 'n.txt');
    const [, t2] = await userMessages(f, sid);

    // The next revert records the end snapshot (flagged recovered), then really reverts the turn.
    const r = JSON.parse(await f.ok(['session', 'revert', sid, '--message', t2!, '--format', 'json'])) as UndoJson;
    assert.deepEqual(r.written, ['a.txt']);
    assert.deepEqual(r.deleted, ['n.txt']);
    assert.equal(read(f, 'a.txt'), 'base\n');
    assert.equal(read(f, 'n.txt'), null);
    assert.equal(read(f, 'one.txt'), 'one\n');
    const finishes = (JSON.parse(await f.ok(['db', '--format', 'json', `SELECT message_id, data FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'step-finish' ORDER BY id`])) as PartRow[]).map((p) => JSON.parse(p.data) as { recovered?: boolean; recoveredAt?: number });
    assert.equal(finishes.length, 2);
    assert.equal(finishes[0]!.recovered, undefined);
    assert.equal(finishes[1]!.recovered, true);
    assert.equal(typeof finishes[1]!.recoveredAt, 'number');

    // Its changes are known like any turn's: session diff lists them, unrevert puts them back.
    const diff = JSON.parse(await f.ok(['session', 'diff', sid, '--message', t2!, '--format', 'json'])) as { total: { files: number }; diffs: { file: string; status: string }[] };
    assert.deepEqual(diff.diffs.map((d) => `${d.status} ${d.file}`).sort(), ['added n.txt', 'modified a.txt']);
    const show = await f.ok(['session', 'show', sid]);
    assert.match(show, /step-finish [0-9a-f]{12} \(taken when the interrupted turn was recovered\)/);
    await f.ok(['session', 'unrevert', sid]);
    assert.equal(read(f, 'a.txt'), 'changed\n');
    assert.equal(read(f, 'n.txt'), 'new\n');
  } finally {
    f.cleanup();
  }
});

test('the next run and session diff record the end snapshot of a killed turn; a turn whose end is unknown makes revert fail clearly', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'base\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo one > one.txt']));
    await killedTurn(f, sid, 'echo changed > a.txt; touch a.txt.done', 'a.txt.done');
    const [, t2] = await userMessages(f, sid);
    // session diff records it (and so shows the killed turn's change).
    const diff = JSON.parse(await f.ok(['session', 'diff', sid, '--message', t2!, '--format', 'json'])) as { diffs: { file: string }[] };
    assert.deepEqual(diff.diffs.map((d) => d.file).sort(), ['a.txt', 'a.txt.done']);

    await killedTurn(f, sid, 'echo third > three.txt', 'three.txt');
    // The next run records it before its own step-start.
    await f.ok(['run', 'four', '--session', sid, '--exec', 'echo four > four.txt']);
    const [, , t3, t4] = await userMessages(f, sid);
    const ends = JSON.parse(await f.ok(['db', '--format', 'json', `SELECT message_id, json_extract(data, '$.recovered') AS recovered FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'step-finish' ORDER BY id`])) as { message_id: string; recovered: number | null }[];
    assert.deepEqual(ends.map((e) => e.recovered), [null, 1, 1, null]);
    const summary = JSON.parse(await f.ok(['session', 'diff', sid, '--message', t3!, '--format', 'json'])) as { diffs: { file: string }[] };
    assert.deepEqual(summary.diffs.map((d) => d.file), ['three.txt']);

    // A database where an interrupted turn has no end snapshot and later turns ran (as an older
    // snapline left them): its changes are unknown, so revert over it fails and writes nothing.
    await f.ok(['db', '--write', `DELETE FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.recovered') = 1 AND message_id > '${t3}' AND message_id < '${t4}'`]);
    const before = untouched(f);
    const line = refusal(await f.cli(['session', 'revert', sid, '--message', t2!]));
    assert.match(line, new RegExp(`turn ${t3} of session ${sid} stopped before its end snapshot`));
    assert.match(line, /nothing was written/);
    assert.deepEqual(untouched(f), before);
    assert.equal(await revertState(f, sid), null);
    // Turns after it still revert.
    const r = JSON.parse(await f.ok(['session', 'revert', sid, '--message', t4!, '--format', 'json'])) as UndoJson;
    assert.deepEqual(r.deleted, ['four.txt']);
    assert.equal(readdirSync(f.dir).includes('three.txt'), true);
  } finally {
    f.cleanup();
  }
});
