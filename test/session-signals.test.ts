/** Stopping a run: signals reach the command's whole process group, and the turn is recorded anyway. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether the group is gone within 5 s (a signalled orphan is reaped by init a moment later). */
async function groupGone(pgid: number): Promise<boolean> {
  for (const t = Date.now(); Date.now() - t < 5000; await new Promise((r) => setTimeout(r, 50))) if (!groupAlive(pgid)) return true;
  return false;
}

/**
 * Starts `snapline run --exec CMD` (CMD writes its shell's pid, the group id, to `pid`), waits
 * until the command runs, and hands back the process, the command's group and the exit.
 */
async function startRun(f: Fixture, command: string) {
  const child = spawn(process.execPath, [CLI, 'run', 'stop me', '--format', 'json', '--exec', `echo $$ > pid; ${command}`], { cwd: f.dir, env: f.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const pidFile = join(f.dir, 'pid');
  for (let i = 0; i < 600 && !/^\d+\n$/.test(existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : ''); i++) await sleep(100);
  const pgid = Number(readFileSync(pidFile, 'utf8'));
  await sleep(300);
  /** The exit code, or null if snapline has not exited within `ms` (then it is killed). */
  const exitWithin = async (ms: number): Promise<number | null | 'timeout'> => {
    const r = await Promise.race([exited, sleep(ms).then(() => 'timeout' as const)]);
    if (r === 'timeout') {
      child.kill('SIGKILL');
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    }
    return r;
  };
  return { child, pgid, exitWithin, output: () => ({ stdout, stderr }) };
}

/** The turn as recorded: the assistant message and its tool part. */
function recorded(f: Fixture, sid: string) {
  const [row] = f.db<{ assistant: string; tool: string; summary: string }>(
    `SELECT a.data AS assistant, (SELECT p.data FROM part p WHERE p.message_id = a.id AND json_extract(p.data, '$.type') = 'tool') AS tool,
            (SELECT json_extract(u.data, '$.summary') FROM message u WHERE u.id = json_extract(a.data, '$.parentID')) AS summary
     FROM message a WHERE a.session_id = '${sid}' AND json_extract(a.data, '$.role') = 'assistant'`,
  );
  return {
    assistant: JSON.parse(row!.assistant) as { finish?: string; interrupted?: string; exit?: number; error?: unknown; time: { completed?: number } },
    tool: JSON.parse(row!.tool) as { state: { metadata: { exit: number | null; signal?: string; interrupted?: string } } },
    files: (JSON.parse(row!.summary) as { diffs: { file: string }[] }).diffs.map((d) => d.file).sort(),
  };
}

test('SIGINT to snapline stops the whole command (not just its shell) and the turn is recorded as interrupted', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const run = await startRun(f, 'echo x > made.txt; sleep 30; echo late > late.txt');
    run.child.kill('SIGINT');
    const exit = await run.exitWithin(20_000);
    assert.equal(exit, 130, `snapline should stop promptly with 130; stderr: ${run.output().stderr}`);
    assert.equal(await groupGone(run.pgid), true, 'no process of the command is left');
    assert.equal(existsSync(join(f.dir, 'late.txt')), false);
    const t = recorded(f, sessionOf(run.output().stdout));
    assert.equal(t.assistant.finish, 'interrupted');
    assert.equal(t.assistant.interrupted, 'SIGINT');
    assert.ok(t.assistant.time.completed);
    assert.equal(t.tool.state.metadata.interrupted, 'SIGINT');
    assert.deepEqual(t.files, ['made.txt', 'pid'], 'the end snapshot holds what the command did');
  } finally {
    f.cleanup();
  }
});

test('a command that ignores SIGINT is killed, group and all, by a second SIGINT within 3 s; the turn is recorded', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const run = await startRun(f, 'trap "" INT; echo x > made.txt; sleep 30; echo late > late.txt');
    run.child.kill('SIGINT');
    await sleep(1000);
    assert.equal(run.child.exitCode, null, 'one SIGINT is only passed on: the command ignores it');
    assert.equal(groupAlive(run.pgid), true);
    run.child.kill('SIGINT');
    const exit = await run.exitWithin(20_000);
    assert.equal(exit, 130, run.output().stderr);
    assert.equal(await groupGone(run.pgid), true);
    assert.match(run.output().stderr, /SIGINT passed to the command.*\n.*SIGINT again: killing the command/);
    const t = recorded(f, sessionOf(run.output().stdout));
    assert.equal(t.assistant.finish, 'interrupted');
    assert.equal(t.tool.state.metadata.signal, 'SIGKILL');
    assert.equal(t.tool.state.metadata.exit, 137);
    assert.deepEqual(t.files, ['made.txt', 'pid']);
  } finally {
    f.cleanup();
  }
});

test('SIGTERM to snapline reaches the command group; exit 143, turn recorded', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const run = await startRun(f, 'echo x > made.txt; sleep 30 & wait');
    run.child.kill('SIGTERM');
    const exit = await run.exitWithin(20_000);
    assert.equal(exit, 143, run.output().stderr);
    assert.equal(await groupGone(run.pgid), true, 'the background sleep got SIGTERM too');
    const t = recorded(f, sessionOf(run.output().stdout));
    assert.equal(t.assistant.interrupted, 'SIGTERM');
    assert.equal(t.tool.state.metadata.interrupted, 'SIGTERM');
    assert.deepEqual(t.files, ['made.txt', 'pid']);
  } finally {
    f.cleanup();
  }
});
