/** snapline run on a real pseudo-terminal (util-linux `script`): interactive agents and the progress line. */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = hasScript ? false : 'needs util-linux script for a pseudo-terminal';

/** `snapline ARGS` with stdin, stdout and stderr on a pseudo-terminal; `typed` is what the user types. Returns what the terminal showed. */
function onTerminal(f: Fixture, args: string, typed = ''): { status: number | null; screen: string } {
  const r = spawnSync('script', ['-qfec', `exec ${process.execPath} ${CLI} ${args}`, '/dev/null'], { cwd: f.dir, env: { ...f.env, SHELL: '/bin/sh', COLUMNS: '200' }, input: typed, encoding: 'utf8' });
  return { status: r.status, screen: r.stdout };
}

/** An agent that tells whether it has a terminal, reads a line from it, and says something. */
function writeAgent(f: Fixture): string {
  const agent = join(f.home, 'agent.sh');
  writeFileSync(agent, '#!/bin/sh\nif [ -t 0 ] && [ -t 1 ]; then t=tty; else t=notty; fi\nread line\necho "$t $1 read:$line" > out.txt\necho "agent says hi"\n');
  chmodSync(agent, 0o755);
  return agent;
}

function agentText(f: Fixture, sid: string): { text: string; captured?: boolean } {
  const [row] = f.db<{ data: string }>(`SELECT data FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'text' ORDER BY id DESC LIMIT 1`);
  return JSON.parse(row!.data) as { text: string; captured?: boolean };
}

function latestSession(f: Fixture): string {
  return (JSON.parse(f.ok('session', 'list', '--format', 'json')) as { id: string }[])[0]!.id;
}

test('on a terminal, --agent gives the agent the terminal (it reads what the user types); the turn records that output was not captured', { skip, timeout: 120_000 }, () => {
  const f = sessionFixture();
  try {
    const agent = writeAgent(f);
    const r = onTerminal(f, `run hello --agent ${agent}`, 'typed\n');
    assert.equal(r.status, 0, r.screen);
    assert.equal(readFileSync(join(f.dir, 'out.txt'), 'utf8'), 'tty hello read:typed\n');
    assert.match(r.screen, /agent says hi/, 'the agent wrote to the terminal');
    const sid = latestSession(f);
    const part = agentText(f, sid);
    assert.equal(part.text, '(output went to the terminal; not captured)');
    assert.equal(part.captured, false);
    assert.match(f.ok('session', 'show', sid), /text: \(output went to the terminal; not captured\)/);
    assert.match(f.ok('session', 'diff', sid), /out\.txt/);
    // --capture keeps the old way on a terminal: output stored, no terminal for the agent.
    const c = onTerminal(f, `run again --continue --capture --agent ${agent}`, 'typed\n');
    assert.equal(c.status, 0, c.screen);
    assert.equal(readFileSync(join(f.dir, 'out.txt'), 'utf8'), 'notty again read:\n');
    assert.equal(agentText(f, sid).text, 'agent says hi\n');
  } finally {
    f.cleanup();
  }
});

test('off a terminal, --agent output is captured as before', { timeout: 120_000 }, () => {
  const f = sessionFixture();
  try {
    const agent = writeAgent(f);
    const sid = sessionOf(f.ok('run', 'piped', '--format', 'json', '--agent', agent));
    assert.equal(readFileSync(join(f.dir, 'out.txt'), 'utf8'), 'notty piped read:\n');
    const part = agentText(f, sid);
    assert.equal(part.text, 'agent says hi\n');
    assert.equal(part.captured, undefined);
  } finally {
    f.cleanup();
  }
});

test('on a terminal, run shows its progress as one line redrawn in place and cleared at the end', { skip, timeout: 120_000 }, () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const r = onTerminal(f, `run progress --exec 'echo out; echo more >> a.txt'`);
    assert.equal(r.status, 0, r.screen);
    // Redrawn: every progress message starts with carriage return + erase-line, none ends a line.
    for (const m of ['snapshot (before)…', 'running the command…', 'snapshot (after)…', 'summarising…']) assert.ok(r.screen.includes(`\r\x1b[Ksnapline: ${m}`), `${m} redrawn in place`);
    const lines = r.screen.split(/\r?\n/);
    assert.deepEqual(lines.filter((l) => /snapline: /.test(l.slice(l.lastIndexOf('\r') + 1))), [], 'no progress message is left on the screen as a line of its own');
    assert.ok(lines.some((l) => l.endsWith('out')), 'the command output shows');
    assert.match(r.screen, /\r\x1b\[Ksession ses_\w+ {2}turn msg_\w+ {2}exit 0/, 'the progress line is cleared before the result');
    // Off a terminal, stderr stays clean.
    const piped = f.cli('run', 'piped', '--exec', 'true');
    assert.equal(piped.stderr, '');
  } finally {
    f.cleanup();
  }
});

test('on a terminal, Ctrl-C is the interactive agent\'s own business: it gets it once, from the terminal; snapline waits for it and records the turn', { skip, timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const agent = join(f.home, 'agent.sh');
    writeFileSync(agent, '#!/bin/sh\n[ -t 0 ] || exit 9\ntrap \'echo "got INT" >> int.txt; exit 3\' INT\necho ready > ready.txt\nwhile :; do sleep 0.1; done\n');
    chmodSync(agent, 0o755);
    const child = spawn('script', ['-qfec', `exec ${process.execPath} ${CLI} run stop --agent ${agent}`, '/dev/null'], { cwd: f.dir, env: { ...f.env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
    let done = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => ((done = true), resolve(code))));
    for (let i = 0; i < 600 && !done && !existsSync(join(f.dir, 'ready.txt')); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(join(f.dir, 'ready.txt')), `the agent should have the terminal: ${screen}`);
    child.stdin.write('\x03'); // Ctrl-C typed on the terminal
    const status = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (status === 'timeout') child.kill('SIGKILL');
    assert.equal(status, 3, `snapline exits with the agent's own code: ${screen}`);
    assert.equal(readFileSync(join(f.dir, 'int.txt'), 'utf8'), 'got INT\n', 'the agent got Ctrl-C once, from the terminal');
    const sid = latestSession(f);
    const [a] = f.db<{ data: string }>(`SELECT data FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'assistant'`);
    const assistant = JSON.parse(a!.data) as { finish: string; interrupted?: string; exit: number };
    assert.deepEqual([assistant.finish, assistant.interrupted, assistant.exit], ['stop', undefined, 3]);
    assert.match(f.ok('session', 'diff', sid), /int\.txt/);
  } finally {
    f.cleanup();
  }
});

test('on a terminal, a Ctrl-C that reaches snapline just after the agent has quit on it is still the agent\'s', { skip, timeout: 120_000 }, () => {
  const f = sessionFixture();
  try {
    // The kernel hands a terminal's SIGINT to each process of the foreground group on its own
    // schedule: on a loaded machine snapline's can come after the agent has exited. Played here
    // by an agent that exits at once and leaves a SIGINT for snapline 50 ms later, while it records the turn.
    const agent = join(f.home, 'agent.sh');
    writeFileSync(agent, '#!/bin/sh\necho ran >> ran.txt\n(sleep 0.05; kill -INT $PPID) &\nexit 3\n');
    chmodSync(agent, 0o755);
    const r = onTerminal(f, `run late --agent-cmd ${agent}`);
    assert.equal(r.status, 3, `the agent's own code, not an interruption: ${r.screen}`);
    const [a] = f.db<{ data: string }>(`SELECT data FROM message WHERE session_id = '${latestSession(f)}' AND json_extract(data, '$.role') = 'assistant'`);
    const assistant = JSON.parse(a!.data) as { interrupted?: string; exit: number };
    assert.deepEqual([assistant.interrupted, assistant.exit], [undefined, 3]);
  } finally {
    f.cleanup();
  }
});
