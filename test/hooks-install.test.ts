/** `snapline hooks install/uninstall/status`: the agents' own configuration files, edited in place and safely. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';

function scratch() {
  const root = mkdtempSync(join(tmpdir(), 'snapline-hooks-'));
  const dir = join(root, 'project');
  mkdirSync(dir);
  const env = { ...process.env, SNAPLINE_HOME: join(root, 'data'), HOME: join(root, 'home'), XDG_CONFIG_HOME: join(root, 'config'), CLAUDE_CONFIG_DIR: '', CODEX_HOME: '' };
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (...args: string[]) => {
    const r = cli(...args);
    if (r.status !== 0) throw new Error(`snapline ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  return { root, dir, env, cli, ok, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const SETTINGS = {
  claude: { file: '.claude/settings.json', events: ['UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop', 'SessionEnd'], toolEvent: 'PostToolUse', scripted: ['UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop', 'SessionEnd'] },
  codex: { file: '.codex/hooks.json', events: ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop', 'SessionEnd'], toolEvent: 'PostToolUse', scripted: ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop', 'SessionEnd'] },
  gemini: { file: '.gemini/settings.json', events: ['SessionStart', 'BeforeAgent', 'BeforeTool', 'AfterTool', 'AfterAgent', 'SessionEnd'], toolEvent: 'AfterTool', scripted: ['SessionStart', 'BeforeAgent', 'BeforeTool', 'AfterTool', 'AfterAgent', 'SessionEnd'] },
} as const;

type Settings = { hooks?: Record<string, { matcher?: string; hooks: { type: string; command: string }[] }[]>; [key: string]: unknown };

for (const [agent, spec] of Object.entries(SETTINGS)) {
  test(`hooks install ${agent}: adds its hooks to ${spec.file}, keeps everything else, is idempotent, backs up, and uninstall removes exactly its hooks`, () => {
    const s = scratch();
    try {
      const file = join(s.dir, spec.file);
      mkdirSync(join(file, '..'), { recursive: true });
      const theirs = { type: 'command', command: 'echo theirs' };
      const original: Settings = { model: 'keep-me', permissions: { allow: ['Bash(ls)'] }, hooks: { [spec.toolEvent]: [{ matcher: 'Bash', hooks: [theirs] }], Notification: [{ hooks: [theirs] }] } };
      const originalText = JSON.stringify(original, null, 4) + '\n';
      writeFileSync(file, originalText);
      assert.match(s.ok('hooks', 'status', agent), /absent/);

      const out = s.ok('hooks', 'install', agent);
      assert.match(out, /installed snapline's hooks/);
      assert.equal(readFileSync(file + '.snapline-backup', 'utf8'), originalText, 'the file as it was is kept');
      const installed = JSON.parse(readFileSync(file, 'utf8')) as Settings;
      assert.equal(installed.model, 'keep-me');
      assert.deepEqual(installed.permissions, original.permissions);
      assert.deepEqual(installed.hooks!.Notification, original.hooks!.Notification);
      assert.deepEqual(installed.hooks![spec.toolEvent]![0], original.hooks![spec.toolEvent]![0], 'their own hook on the same event stays first');
      for (const event of spec.events) {
        const ours = installed.hooks![event]!.flatMap((g) => g.hooks).filter((h) => h.command.endsWith(`hook ${agent}`));
        assert.equal(ours.length, 1, event);
        assert.ok(ours[0]!.command.includes(process.execPath) && ours[0]!.command.includes('main.js'), ours[0]!.command);
        // Gemini CLI counts hook timeouts in milliseconds, the others in seconds: 60 s for all.
        assert.equal((ours[0] as { timeout?: number }).timeout, agent === 'gemini' ? 60_000 : 60);
      }
      assert.ok(installed.hooks![spec.toolEvent]!.some((g) => g.matcher && g.hooks.some((h) => h.command.endsWith(`hook ${agent}`))), 'the tool hook has a matcher');
      for (const event of spec.events) {
        const command = installed.hooks![event]!.flatMap((g) => g.hooks).find((h) => h.command.endsWith(`hook ${agent}`))!.command;
        // The step, the turn's end and the session's end run through the step hook script (which
        // runs Node for anything but a no-change step or end, or a session end with no turn open);
        // the session's start, the begin and the barrier before each tool too (the standby, the
        // deferred begin).
        assert.equal(/^\/bin\/sh \S*step-hook\.sh /.test(command), (spec.scripted as readonly string[]).includes(event), command);
      }
      assert.match(s.ok('hooks', 'status', agent), /installed/);

      const before = readFileSync(file, 'utf8');
      assert.match(s.ok('hooks', 'install', agent), /already installed/);
      assert.equal(readFileSync(file, 'utf8'), before, 'a second install changes nothing');

      s.ok('hooks', 'uninstall', agent);
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), original);
      assert.match(s.ok('hooks', 'status', agent), /absent/);
    } finally {
      s.cleanup();
    }
  });
}

test('hooks install replaces the commands of an older install (plain node on every event) and status counts them', () => {
  const s = scratch();
  try {
    const file = join(s.dir, '.claude', 'settings.json');
    mkdirSync(join(file, '..'), { recursive: true });
    const old = (event: string) => [{ ...(event === 'PostToolUse' ? { matcher: 'Bash' } : {}), hooks: [{ type: 'command', command: `/old/node /old/snapline/dist/src/cli/main.js hook claude`, timeout: 60 }] }];
    const events = ['UserPromptSubmit', 'PostToolUse', 'Stop', 'SessionEnd'];
    writeFileSync(file, JSON.stringify({ hooks: Object.fromEntries(events.map((e) => [e, old(e)])) }));
    // Counted as snapline's; without the barrier before each tool (PreToolUse) of this version.
    assert.match(s.ok('hooks', 'status', 'claude'), /partial/);
    s.ok('hooks', 'install', 'claude');
    const installed = JSON.parse(readFileSync(file, 'utf8')) as Settings;
    for (const e of events) {
      const commands = installed.hooks![e]!.flatMap((g) => g.hooks).map((h) => h.command);
      assert.equal(commands.length, 1, e);
      assert.ok(!commands[0]!.includes('/old/'), commands[0]);
    }
    assert.match(installed.hooks!.PostToolUse![0]!.hooks[0]!.command, /step-hook\.sh/);
    s.ok('hooks', 'uninstall', 'claude');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {});
  } finally {
    s.cleanup();
  }
});

test('hooks install refuses a settings file it cannot parse, and changes nothing', () => {
  const s = scratch();
  try {
    const file = join(s.dir, '.claude', 'settings.json');
    mkdirSync(join(file, '..'), { recursive: true });
    for (const text of ['{ "model": "x", // a comment\n }', '[1]', '{"hooks": []}', '{"hooks": {"Stop": {}}}']) {
      writeFileSync(file, text);
      const r = s.cli('hooks', 'install', 'claude');
      assert.notEqual(r.status, 0);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.match(r.stderr, /cannot edit .*settings\.json: .*nothing was changed/);
      assert.equal(readFileSync(file, 'utf8'), text);
      assert.equal(existsSync(file + '.snapline-backup'), false);
    }
  } finally {
    s.cleanup();
  }
});

test('hooks install --user writes the user configuration; --tools sets the step matcher', () => {
  const s = scratch();
  try {
    s.ok('hooks', 'install', 'claude', '--user', '--tools', 'Bash|Write');
    const file = join(s.env.HOME, '.claude', 'settings.json');
    const settings = JSON.parse(readFileSync(file, 'utf8')) as Settings;
    assert.equal(settings.hooks!.PostToolUse![0]!.matcher, 'Bash|Write');
    assert.equal(existsSync(join(s.dir, '.claude')), false, 'no project file');
    assert.match(s.ok('hooks', 'status', 'claude', '--user'), /installed/);
    assert.match(s.cli('hooks', 'install', 'claude', '--tools', '(').stderr, /--tools must be a regular expression/);
  } finally {
    s.cleanup();
  }
});

test('hooks install opencode writes a plugin module OpenCode can load, suggests turning its snapshots off, and never replaces a file it did not write', async () => {
  const s = scratch();
  try {
    const out = s.ok('hooks', 'install', 'opencode');
    const file = join(s.dir, '.opencode', 'plugin', 'snapline.js');
    assert.match(out, /"snapshot": false/);
    // OpenCode calls every export with its context and uses the hooks returned.
    const mod = (await import(file)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(mod), ['SnaplinePlugin']);
    const hooks = (await (mod.SnaplinePlugin as (ctx: unknown) => Promise<Record<string, unknown>>)({ directory: s.dir, worktree: s.dir }));
    assert.deepEqual(Object.keys(hooks).sort(), ['chat.message', 'event', 'tool.execute.after', 'tool.execute.before']);
    // A hook never throws into OpenCode, even on nonsense (its snapline child logs into this test's data dir).
    process.env.SNAPLINE_HOME = s.env.SNAPLINE_HOME;
    await (hooks['tool.execute.after'] as (i: unknown, o: unknown) => Promise<void>)(undefined, undefined);
    await (hooks.event as (i: unknown) => Promise<void>)({ event: { type: 'session.idle', properties: {} } });
    assert.match(s.ok('hooks', 'install', 'opencode'), /already installed/);
    assert.match(s.ok('hooks', 'status', 'opencode'), /installed/);
    s.ok('hooks', 'uninstall', 'opencode');
    assert.equal(existsSync(file), false);

    writeFileSync(file, 'export const Mine = async () => ({})\n');
    const r = s.cli('hooks', 'install', 'opencode');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /was not written by snapline/);
    assert.equal(readFileSync(file, 'utf8'), 'export const Mine = async () => ({})\n');
    assert.notEqual(s.cli('hooks', 'uninstall', 'opencode').status, 0);
    assert.ok(existsSync(file));
  } finally {
    s.cleanup();
  }
});
