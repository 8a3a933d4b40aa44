import { UsageError } from '../errors.js';
import { AGENT_NAMES, agentAdapter, type Scope } from '../agents/index.js';
import { allStatus, hooksStatus, installHooks, uninstallHooks, type InstallOptions } from '../agents/install.js';
import { parse, write, type Command } from './command.js';

const help = `snapline hooks — set an agent up to record its sessions in snapline (or undo that)

Usage:
  snapline hooks install AGENT [--dir DIR | --user] [--tools REGEX]
  snapline hooks uninstall AGENT [--dir DIR | --user]
  snapline hooks status [AGENT] [--dir DIR | --user] [--format text|json]

AGENT    where                                            what is written
claude   DIR/.claude/settings.json, ~/.claude/settings.json  hooks SessionStart, UserPromptSubmit, PreToolUse, PostToolUse,
                                                             Stop, SessionEnd
codex    DIR/.codex/hooks.json, ~/.codex/hooks.json          hooks SessionStart, UserPromptSubmit, PreToolUse, PostToolUse,
                                                             Stop, SessionEnd
gemini   DIR/.gemini/settings.json, ~/.gemini/settings.json  hooks SessionStart, BeforeAgent, BeforeTool, AfterTool,
                                                             AfterAgent, SessionEnd
opencode DIR/.opencode/plugin/snapline.js,                   a plugin: chat.message, tool.execute.before/after, session.idle
         ~/.config/opencode/plugin/snapline.js

Each hook runs 'snapline hook AGENT' with this node and this snapline (absolute paths), so
every prompt becomes a turn, every file-changing tool a step, and the agent's stop the turn's
end: 'snapline session list' then shows the agent's sessions, 'session show/diff' each turn's
exact +/-, and 'session revert' undoes turns. The step, end and session-end hooks run it
through snapline's step-hook.sh (/bin/sh), which answers without starting Node a step that
changed nothing, an end with nothing changed since the last step (a detached snapline records
it; every reader records it first) and a session end with no turn open (SNAPLINE_FAST_STEP=0
in the agent's environment turns that off). For Claude Code, Codex CLI, Gemini CLI and
OpenCode the prompt goes through it too: the hook returns at once and a detached snapline
records the begin while the agent calls its model; the hook before each tool (PreToolUse,
Gemini CLI's BeforeTool, OpenCode's tool.execute.before) waits for that begin, so no tool runs
before its snapshot. That snapline stays on as the session's standby, with its modules loaded
(SessionStart starts it earlier where there is one): the script hands it what would start
Node (~0.2 s a hook here); when the session ends it waits as the standby of the agent's next
session, up to 5 idle minutes (SNAPLINE_STANDBY=0 does without it). A step returns once the
standby has it: its snapshot is taken while the agent calls its model, and the next tool waits
for it; an end that comes meanwhile returns at once, and the standby ends the turn with that
step's snapshot.

install    adds snapline's hooks, keeping everything else in the file; a second install
           changes nothing; the file as it was is saved as FILE.snapline-backup; a file that
           is not valid JSON is refused (nothing written). For OpenCode, writes the plugin
           module (refusing to replace a file snapline did not write).
uninstall  removes exactly snapline's hooks (or its plugin file), with the same backup.
status     installed / partial / absent, per agent.

Options:
  --dir DIR      the project (default: the current directory)
  --user         the user's own configuration instead of a project's
  --tools REGEX  tools whose use is a step (default: the agent's file-changing tools, e.g.
                 Bash|Write|Edit|MultiEdit|NotebookEdit for Claude Code)
  --format FMT   text (default) or json

Examples:
  snapline hooks install claude
  snapline hooks install opencode --user
  snapline hooks status
  snapline hooks uninstall gemini --dir ~/src/app
`;

const command: Command = {
  summary: 'install, uninstall or check the hooks that record an agent (Claude Code, Codex, Gemini CLI, OpenCode)',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values: v, positionals } = parse(rest, {
      dir: { type: 'string' },
      user: { type: 'boolean' },
      tools: { type: 'string' },
      format: { type: 'string' },
    });
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    if (v.dir !== undefined && v.user) throw new UsageError('use either --dir or --user, not both');
    if (positionals.length > 1) throw new UsageError(`one agent at a time (got ${positionals.join(', ')})`);
    if (v.tools !== undefined) {
      if (sub !== 'install') throw new UsageError('--tools goes with install');
      try {
        new RegExp(v.tools);
      } catch {
        throw new UsageError(`--tools must be a regular expression over tool names, not '${v.tools}'`);
      }
    }
    const scope: Scope = v.user ? { user: true } : { dir: v.dir ?? process.cwd() };
    const opts: InstallOptions = { scope, tools: v.tools };
    const json = (x: unknown) => write(JSON.stringify(x, null, 2) + '\n');
    switch (sub) {
      case 'install':
      case 'uninstall': {
        const agent = agentAdapter(positionals[0]);
        const r = sub === 'install' ? await installHooks(agent, opts) : await uninstallHooks(agent, opts);
        if (format === 'json') return (await json(r), 0);
        const done = sub === 'install' ? (r.changed ? `installed snapline's hooks for ${agent.title} in ${r.file}` : `already installed in ${r.file}`) : r.changed ? `removed snapline's hooks for ${agent.title} from ${r.file}` : `nothing of snapline's in ${r.file}`;
        const lines = [done];
        if (r.backup) lines.push(`(the file as it was: ${r.backup})`);
        for (const n of r.notes) lines.push(`note: ${n}`);
        await write(lines.join('\n') + '\n');
        return 0;
      }
      case 'status': {
        const all = positionals.length ? [await hooksStatus(agentAdapter(positionals[0]), opts)] : await allStatus(opts);
        if (format === 'json') return (await json(all), 0);
        for (const s of all) await write(`${s.agent.padEnd(9)} ${s.state.padEnd(10)} ${s.file}${s.state === 'partial' ? ` (only ${s.events.join(', ')})` : ''}\n`);
        return 0;
      }
      case undefined:
        throw new UsageError(`hooks needs a subcommand: install, uninstall or status (agents: ${AGENT_NAMES.join(', ')})`);
      default:
        throw new UsageError(`unknown hooks subcommand '${sub}' (install, uninstall, status)`);
    }
  },
};

export default command;
