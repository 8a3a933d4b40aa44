/** What a killed snapline leaves behind is recovered by the next command, deterministically. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditTurns, fixture, leftovers, sessionOf, sleep, storeDirs } from './reliability-lib.js';

/** A pid that certainly belongs to no live process (a child that has exited). */
async function deadPid(): Promise<number> {
  const c = spawn('true');
  await new Promise((r) => c.on('close', r));
  return c.pid!;
}

test('a run killed mid-turn is marked interrupted (with what it captured) by the next command, and the session is not left busy', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo b > b.txt']));
    const p = f.start(['run', 'two', '--session', sid, '--format', 'json', '--exec', 'echo c > c.txt; sleep 30']);
    // Wait for the step-start part (the command is running), then SIGKILL the whole group.
    for (let i = 0; i < 400 && !existsSync(join(f.dir, 'c.txt')); i++) await sleep(25);
    process.kill(-p.pid, 'SIGKILL');
    await p.done;
    assert.deepEqual(auditTurns(f.home, false).half.length, 1, 'before recovery the killed turn is half-recorded');
    const shown = JSON.parse(await f.ok(['session', 'show', sid, '--format', 'json'])) as { session: { busy?: unknown }; messages: { data: { role: string; finish?: string; error?: { name: string } }; parts: { data: { type: string } }[] }[] };
    const last = shown.messages.at(-1)!;
    assert.equal(last.data.role, 'assistant');
    assert.equal(last.data.finish, 'error');
    assert.equal(last.data.error?.name, 'interrupted');
    assert.ok(last.parts.some((x) => x.data.type === 'step-start'), 'the step-start snapshot it captured is kept');
    assert.equal(shown.session.busy, undefined);
    const audit = auditTurns(f.home, false);
    assert.deepEqual(audit.half, []);
    assert.equal(audit.interrupted, 1);
    // The session goes on: revert of the first turn and a new turn both work.
    await f.ok(['run', 'three', '--session', sid, '--exec', 'echo d > d.txt']);
    assert.equal(auditTurns(f.home, false).complete, 2);
  } finally {
    f.cleanup();
  }
});

test('a lock left by a killed snapline is taken over, after waiting for the git it left running', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    await f.ok(['snapshot', 'track', '--dir', f.dir]);
    const store = storeDirs(f.home)[0]!;
    writeFileSync(join(store, 'snapline.lock'), JSON.stringify({ pid: await deadPid(), hostname: (await import('node:os')).hostname(), started: Date.now() }));
    // Stand-in for an orphaned `git --git-dir <store> add`: a process naming the store, alive 1.5 s.
    const orphan = spawn('bash', ['-c', 'sleep 1.5; true', 'git', '--git-dir', store], { stdio: 'ignore' });
    const t0 = Date.now();
    const r = await f.cli(['snapshot', 'track', '--dir', f.dir]);
    const waited = Date.now() - t0;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`waiting for pid ${orphan.pid} \\(left running by a killed snapline\\)`));
    assert.ok(waited >= 1000, `track waited ${waited} ms for the orphan`);
    assert.equal(existsSync(join(store, 'snapline.lock')), false);
  } finally {
    f.cleanup();
  }
});

test('gc removes every leftover of killed runs: fresh tmp packs, index.lock, a stale gc.pid, dead turn locks, half-built stores', async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    await f.ok(['snapshot', 'track', '--dir', f.dir]);
    const store = storeDirs(f.home)[0]!;
    const host = (await import('node:os')).hostname();
    const dead = await deadPid();
    // gc.pid naming a live process that is not git (a reused pid): git would refuse to gc forever.
    writeFileSync(join(store, 'gc.pid'), `${process.pid} ${host}`);
    writeFileSync(join(store, 'objects', 'pack', 'tmp_pack_abc123'), 'partial');
    writeFileSync(join(store, 'objects', 'tmp_obj_xyz'), 'partial');
    writeFileSync(join(store, 'index.lock'), '');
    writeFileSync(join(store, 'packed-refs.lock'), '');
    // git writes packed refs to packed-refs.new, then renames it; a killed git leaves it, and
    // every later rewrite of the packed refs fails ("unable to create file …: File exists").
    writeFileSync(join(store, 'packed-refs.new'), '');
    mkdirSync(join(f.home, 'locks', 'f'.repeat(40)), { recursive: true });
    writeFileSync(join(f.home, 'locks', 'f'.repeat(40), 'snapline.lock'), JSON.stringify({ pid: dead, hostname: host, started: 1 }));
    mkdirSync(`${store}.tmp-${dead}-123`);
    writeFileSync(join(`${store}.tmp-${dead}-123`, 'HEAD'), 'ref: refs/heads/main\n');
    assert.equal(leftovers(f.home).length, 8);
    await f.ok(['snapshot', 'gc']);
    assert.deepEqual(leftovers(f.home), []);
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'a\n');
    // The store still works.
    await f.ok(['snapshot', 'track', '--dir', f.dir]);
    const doc = await f.cli(['snapshot', 'doctor', '--dir', f.dir]);
    assert.equal(doc.status, 0, doc.stdout + doc.stderr);
  } finally {
    f.cleanup();
  }
});

test('temporary files of a restore killed mid-write are removed by the next track (and are never snapshotted)', async () => {
  const f = fixture();
  try {
    mkdirSync(join(f.dir, 'sub'));
    writeFileSync(join(f.dir, 'sub', 'a.txt'), 'a\n');
    await f.ok(['snapshot', 'track', '--dir', f.dir]);
    const store = storeDirs(f.home)[0]!;
    // What a restore killed while writing leaves: its journal and half-written temporaries.
    writeFileSync(join(store, 'restore-journal'), JSON.stringify({ token: 'abcdef012345', dirs: [f.dir, join(f.dir, 'sub')] }));
    writeFileSync(join(f.dir, '.abcdef012345.0.snapline-tmp'), 'half');
    writeFileSync(join(f.dir, 'sub', '.abcdef012345.1.snapline-tmp'), 'half');
    writeFileSync(join(f.dir, 'sub', '.user-file.snapline-tmp'), 'the user named this one');
    // Many of them: the track's scan starts before they are removed, and has to look again.
    for (let i = 2; i < 1000; i++) writeFileSync(join(f.dir, 'sub', `.abcdef012345.${i}.snapline-tmp`), 'half');
    const run = await f.cli(['snapshot', 'track', '--dir', f.dir]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '', 'nothing reported as vanished');
    const tree = run.stdout.trim();
    assert.equal(existsSync(join(f.dir, '.abcdef012345.0.snapline-tmp')), false);
    assert.equal(existsSync(join(f.dir, 'sub', '.abcdef012345.1.snapline-tmp')), false);
    assert.equal(readFileSync(join(f.dir, 'sub', '.user-file.snapline-tmp'), 'utf8'), 'the user named this one');
    assert.equal(existsSync(join(store, 'restore-journal')), false);
    const listed = f.git('--git-dir', store, 'ls-tree', '-r', '--name-only', tree).split('\n').filter(Boolean).sort();
    assert.deepEqual(listed, ['sub/.user-file.snapline-tmp', 'sub/a.txt']);
  } finally {
    f.cleanup();
  }
});

test("a session ref lock left by a git killed mid-update does not block the session's next turn", async () => {
  const f = fixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo b > b.txt']));
    const store = storeDirs(f.home)[0]!;
    writeFileSync(join(store, 'refs', 'snapline', 'sessions', `${sid}.lock`), '');
    writeFileSync(join(store, 'packed-refs.lock'), '');
    writeFileSync(join(store, 'packed-refs.new'), '');
    const r = await f.cli(['run', 'two', '--session', sid, '--exec', 'echo c > c.txt']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(auditTurns(f.home, false).complete, 2);
    assert.deepEqual(leftovers(f.home, f.dir), []);
  } finally {
    f.cleanup();
  }
});
