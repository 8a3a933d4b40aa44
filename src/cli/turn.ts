import { UsageError } from '../errors.js';
import { formatStat } from '../diff/stat.js';
import { beginTurn, endTurn, stepTurn, type TurnCallOptions } from '../session/index.js';
import { intOption, parse, terminalColumns, write, type Command } from './command.js';
import { asStats } from './run.js';

const help = `snapline turn — record a turn that another program opens, steps and closes

Usage:
  snapline turn begin [MESSAGE...] [TARGET] [--agent NAME] [--title T] [--format text|json]
  snapline turn step [TARGET] [--tool NAME [--input JSON]] [--format text|json]
  snapline turn end [TARGET] [--exit N] [--format text|json]

TARGET (at most one; step and end default to the latest session of --dir):
  --session ID, -s ID    this snapline session
  --continue, -c         (begin) the most recently used session of --dir
  --agent-session KEY    the agent's own session id: the first begin with a KEY creates a
                         session for it, every later call with the same --agent and KEY uses it

begin   stores MESSAGE as the user's message and snapshots the workspace (the turn's first
        step starts there). A turn of the session left open — its agent crashed or was stopped
        before 'turn end' — is first closed as interrupted, with an end snapshot and summary.
        Prints the session, turn and snapshot ids.
step    a step boundary: snapshots the workspace and, if it changed, closes the open step and
        opens the next one on the new snapshot. --tool names the tool that ran (stored with a
        bounded preview of --input, a JSON object).
end     the final snapshot: closes the turn with its summary (exact +/- per file, from the
        turn's first snapshot) and prints the turn's stat.

Each call is its own process; what they share is in the database. A call holds the
workspace only while it runs, and waits at most --wait-ms (default snapshot.lockTimeoutMs)
for a busy one. The open turn holds its session from begin to end: another machine sharing
the database cannot begin, step or end a turn of it meanwhile ('session … is running a turn
on HOST'), until the turn ends or has had no call for an hour (the next begin then takes it
over, marking it interrupted). Agent hooks call these for you: see 'snapline hooks --help'.

Options:
  --dir DIR        the workspace (default: the session's directory, else the current directory)
  --agent NAME     the agent program (claude, codex, gemini, opencode, …), stored on new sessions
  --title T        (begin) title of a new session (default: the message's first line)
  --tool NAME      (step) the tool that ran
  --input JSON     (step) the tool's input; string values are cut at 200 characters, 1 KiB in all
  --exit N         (end) the agent's exit status
  --wait-ms N      give up after N ms when the workspace is busy
  --format FMT     text (default) or json (the ids, and for end the summary)

Examples:
  snapline turn begin "add a parser" --agent my-agent --agent-session 42
  snapline turn step --agent my-agent --agent-session 42 --tool bash --input '{"command":"make"}'
  snapline turn end --agent my-agent --agent-session 42
  snapline turn begin "try again" --continue --format json
`;

const command: Command = {
  summary: 'begin, step or end a turn recorded for another program (agent hooks)',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values: v, positionals } = parse(rest, {
      dir: { type: 'string' },
      session: { type: 'string', short: 's' },
      continue: { type: 'boolean', short: 'c' },
      'agent-session': { type: 'string' },
      agent: { type: 'string' },
      title: { type: 'string' },
      tool: { type: 'string' },
      input: { type: 'string' },
      exit: { type: 'string' },
      'wait-ms': { type: 'string' },
      format: { type: 'string' },
    });
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    const only = (allowed: string[]) => {
      for (const name of ['title', 'tool', 'input', 'exit', 'continue'] as const) {
        if (v[name] !== undefined && !allowed.includes(name)) throw new UsageError(`--${name} does not go with 'turn ${sub}'`);
      }
      if (sub !== 'begin' && positionals.length) throw new UsageError(`'turn ${sub}' takes no message (got '${positionals[0]}')`);
    };
    const call: TurnCallOptions = {
      directory: v.dir,
      sessionId: v.session,
      continue: v.continue,
      agent: v.agent,
      agentSession: v['agent-session'],
      onWarning: (m) => process.stderr.write(`snapline: warning: ${m}\n`),
      onWait: (m) => process.stderr.write(`snapline: ${m}\n`),
    };
    if (v['wait-ms'] !== undefined) call.waitMs = intOption('wait-ms', v['wait-ms'], 0);
    switch (sub) {
      case 'begin': {
        only(['title', 'continue']);
        const r = await beginTurn({ ...call, message: positionals.join(' '), title: v.title });
        if (format === 'json') return (await write(JSON.stringify(r) + '\n'), 0);
        const notes = [r.created ? 'new session' : '', r.interrupted.length ? `closed ${r.interrupted.length} interrupted turn${r.interrupted.length === 1 ? '' : 's'}` : '', r.discarded ? `discarded ${r.discarded} reverted messages` : ''].filter(Boolean);
        await write(`session ${r.sessionID}  turn ${r.messageID}  snapshot ${r.snapshot}${notes.length ? `  (${notes.join(', ')})` : ''}\n`);
        return 0;
      }
      case 'step': {
        only(['tool', 'input']);
        if (v.input !== undefined && v.tool === undefined) throw new UsageError('--input goes with --tool NAME');
        const r = await stepTurn({ ...call, tool: v.tool, input: v.input === undefined ? undefined : parseInput(v.input) });
        if (format === 'json') return (await write(JSON.stringify(r) + '\n'), 0);
        await write(`session ${r.sessionID}  turn ${r.messageID}  snapshot ${r.snapshot}  ${r.changed ? 'new step' : 'unchanged'}\n`);
        return 0;
      }
      case 'end': {
        only(['exit']);
        const exit = v.exit === undefined ? undefined : intOption('exit', v.exit, 0, 255);
        const r = await endTurn({ ...call, exit });
        if (format === 'json') return (await write(JSON.stringify(r) + '\n'), 0);
        const s = r.summary!; // computed here: the CLI's end never defers it
        const out = [`session ${r.sessionID}  turn ${r.messageID}`, s.total.files === 0 ? 'no files changed' : formatStat(asStats(s.diffs), terminalColumns()).trimEnd()];
        if (s.truncated) out.push(`(${s.total.files - s.diffs.length} more files not listed; ${s.total.files} files, +${s.total.additions} -${s.total.deletions} in all)`);
        await write(out.join('\n') + '\n');
        return 0;
      }
      case undefined:
        throw new UsageError("turn needs a subcommand: begin, step or end (see 'snapline turn --help')");
      default:
        throw new UsageError(`unknown turn subcommand '${sub}' (begin, step, end)`);
    }
  },
};

function parseInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`--input must be JSON (like '{"command":"make"}'), not '${text.length > 40 ? text.slice(0, 40) + '…' : text}'`);
  }
}

export default command;
