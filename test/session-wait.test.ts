/** Waiting for a busy workspace: bounded by --wait / session.waitSeconds, saying who holds it. */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { oneLineError, sessionFixture, sessionOf, type CliResult } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run that holds the workspace for `seconds` once its command started; resolves with its exit. */
async function holdWorkspace(f: Fixture, seconds: number): Promise<{ pid: number; done: Promise<number | null>; stop: () => Promise<unknown> }> {
  rmSync(join(f.dir, 'held'), { force: true });
  const child = spawn(process.execPath, [CLI, 'run', 'holder', '--exec', `echo $$ > held; sleep ${seconds}`], { cwd: f.dir, env: f.env, stdio: 'ignore' });
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  const flag = join(f.dir, 'held');
  for (let i = 0; i < 600 && !(existsSync(flag) && readFileSync(flag, 'utf8').endsWith('\n')); i++) await sleep(100);
  const stop = () => {
    child.kill('SIGKILL');
    try {
      process.kill(-Number(readFileSync(flag, 'utf8')), 'SIGKILL');
    } catch {
      /* already gone */
    }
    return done;
  };
  return { pid: child.pid!, done, stop };
}

function timed(f: Fixture, args: string[], env: NodeJS.ProcessEnv = f.env): CliResult & { ms: number } {
  const t = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: f.dir, env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t };
}

/** The error line of a CLI call that gave up waiting (the waiting notices are not errors). */
function busyLine(r: CliResult): string {
  return oneLineError({ ...r, stderr: r.stderr.split('\n').filter((l) => !/waiting for/.test(l)).join('\n') });
}

test('run --wait N gives up after about N seconds, naming who holds the workspace; nothing is recorded', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const sid = sessionOf(f.ok('run', 'first', '--format', 'json', '--exec', 'true'));
    // The holder runs a turn of another session in the workspace (a busy session refuses revert outright).
    const holder = await holdWorkspace(f, 20);
    const rows = f.db('SELECT COUNT(*) AS n FROM message');
    const r = timed(f, ['run', 'impatient', '--wait', '1', '--exec', 'echo no > no.txt']);
    assert.match(r.stderr, new RegExp(`waiting for pid ${holder.pid} on \\S+ \\(run "holder", for \\d+ s\\) to release the workspace ${f.dir} \\(up to 1 s\\)`));
    assert.match(busyLine(r), new RegExp(`workspace ${f.dir} is busy: pid ${holder.pid} .*gave up after 1\\.\\d s \\(wait longer with --wait`));
    assert.ok(r.ms < 10_000, `gave up after ${r.ms} ms`);
    assert.deepEqual(f.db('SELECT COUNT(*) AS n FROM message'), rows);
    assert.equal(existsSync(join(f.dir, 'no.txt')), false);
    // revert, unrevert and delete take --wait too.
    const [turn] = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id LIMIT 1`);
    for (const args of [['session', 'revert', sid, '--message', turn!.id, '--wait', '1'], ['session', 'delete', sid, '--wait', '0']]) {
      const b = timed(f, args);
      assert.match(busyLine(b), /is busy: pid \d+ .*gave up after/, args.join(' '));
    }
    await holder.stop();
  } finally {
    f.cleanup();
  }
});

test('run waits for a turn longer than snapshot.lockTimeoutMs (that bounds only store locks); session.waitSeconds bounds it', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    f.ok('run', 'first', '--exec', 'true');
    // The old bound (snapshot.lockTimeoutMs) no longer cuts a run short: a turn outlasting it is waited for.
    const holder = await holdWorkspace(f, 3);
    const patient = timed(f, ['run', 'patient', '--exec', 'echo yes > yes.txt'], { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { lockTimeoutMs: 200 } }) });
    assert.equal(patient.status, 0, patient.stderr);
    assert.match(patient.stderr, /waiting for pid \d+ .* to release the workspace .*\(up to 600 s\)/);
    assert.equal(readFileSync(join(f.dir, 'yes.txt'), 'utf8'), 'yes\n');
    assert.equal(await holder.done, 0);
    // session.waitSeconds in the configuration sets the bound.
    const second = await holdWorkspace(f, 20);
    const r = timed(f, ['run', 'configured', '--exec', 'true'], { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ session: { waitSeconds: 1 } }) });
    assert.match(busyLine(r), /is busy: .*gave up after 1\.\d s/);
    await second.stop();
    // Bad values are refused clearly.
    assert.match(oneLineError(timed(f, ['run', 'x', '--wait', 'soon', '--exec', 'true'])), /--wait must be a whole number/);
    assert.match(oneLineError(timed(f, ['run', 'x', '--exec', 'true'], { ...f.env, SNAPLINE_CONFIG_CONTENT: '{"session": {"waitSeconds": -1}}' })), /session\.waitSeconds' must be a whole number/);
  } finally {
    f.cleanup();
  }
});

test('a waiter repeats who holds the workspace while it waits', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    process.env.SNAPLINE_HOME = f.home;
    const { withTurnLock } = await import('../src/session/lock.js');
    const { WorkspaceBusy } = await import('../src/session/errors.js');
    f.ok('run', 'first', '--exec', 'true');
    const holder = await holdWorkspace(f, 20);
    const notices: string[] = [];
    const t = Date.now();
    await assert.rejects(
      withTurnLock(f.dir, async () => assert.fail('the lock is held'), { waitSeconds: 2, noticeEveryMs: 400, onWait: (m) => notices.push(m) }),
      (e) => e instanceof WorkspaceBusy,
    );
    assert.ok(Date.now() - t >= 2000);
    assert.ok(notices.length >= 3, notices.join('\n'));
    assert.match(notices[0]!, new RegExp(`^waiting for pid ${holder.pid} on \\S+ \\(run "holder", for \\d+ s\\) to release the workspace ${f.dir} \\(up to 2 s\\)…$`));
    for (const n of notices.slice(1)) assert.match(n, new RegExp(`^still waiting for pid ${holder.pid} .* to release the workspace ${f.dir} \\([0-2] s of 2 s\\)…$`));
    await holder.stop();
  } finally {
    f.cleanup();
  }
});
