import { UsageError } from '../errors.js';
import type { FileStat } from '../diff/numstat.js';
import { formatStat } from '../diff/stat.js';
import type { FileDiff } from '../session/index.js';
import { runTurn, type TurnEvent } from '../session/index.js';
import { parse, terminalColumns, write, type Command } from './command.js';

const help = `snapline run — record one turn of a session: snapshot, run the work, snapshot, summarise

Usage:
  snapline run [MESSAGE...] [--dir DIR] [--session ID | --continue] [--title T]
               [--format default|json] (--exec CMD | --agent CMD)

The turn is stored as a user message (MESSAGE) and an assistant message whose parts are
step-start {snapshot}, the work (a bash "tool" part or the agent's "text"), step-finish
{snapshot, skipped?} and patch {hash, files}; the turn's +/- summary goes on the user message.

Options:
  --dir DIR          the workspace (default: the session's directory, else the current directory)
  --session ID       add the turn to this session
  --continue, -c     add the turn to the most recently updated session of --dir
  --title T          title of a new session
  --exec CMD         run CMD with bash in the workspace; its output streams to you as it runs
                     (stdout/stderr; to stderr with --format json), the first 32 KiB is stored
  --agent CMD        run an agent CLI (CMD split on whitespace, quotes respected) with MESSAGE as
                     its last argument; its output is stored (first 32 KiB) as a text part
  --format FMT       default: the command's output, warnings, then the turn's stat;
                     json: one JSON event per line, like 'opencode run --format json'
                     ({"type": step_start|tool_use|text|step_finish|error, timestamp, sessionID, part})

Exit status: the command's own exit status (a failed command is still recorded).
A new run on a reverted session discards the reverted turns (as OpenCode does).
Files a snapshot could not include (over snapshot.maxFileSize, unreadable) are listed as
warnings and recorded in the step parts.

Examples:
  snapline run "regenerate the build files" --dir . --exec 'make -j2'
  snapline run "fix the tests" --continue --agent 'my-agent --yes'
  snapline run "turn 2" --session ses_... --format json --exec './gen.sh 2'
`;

const command: Command = {
  summary: 'record one turn: snapshot, run --exec/--agent, snapshot, summarise',
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, {
      dir: { type: 'string' },
      session: { type: 'string', short: 's' },
      continue: { type: 'boolean', short: 'c' },
      title: { type: 'string' },
      format: { type: 'string' },
      exec: { type: 'string' },
      agent: { type: 'string' },
    });
    const format = v.format ?? 'default';
    if (format !== 'default' && format !== 'json') throw new UsageError(`--format must be default or json, not '${format}'`);
    if (v.session !== undefined && v.continue) throw new UsageError('use either --session or --continue, not both');
    if ((v.exec === undefined) === (v.agent === undefined)) throw new UsageError('give exactly one of --exec CMD or --agent CMD');
    const json = format === 'json';
    const onEvent = json ? (e: TurnEvent) => void write(JSON.stringify(e) + '\n') : undefined;
    const result = await runTurn({
      message: positionals.join(' '),
      directory: v.dir,
      sessionId: v.session,
      continue: v.continue,
      title: v.title,
      exec: v.exec,
      agent: v.agent,
      onEvent,
      onOutput: (chunk, stream) => {
        if (json || stream === 'stderr') process.stderr.write(chunk);
        else process.stdout.write(chunk);
      },
      onWarning: (m) => process.stderr.write(`snapline: warning: ${m}\n`),
      onWait: (m) => process.stderr.write(`snapline: ${m}\n`),
      onProgress: process.stderr.isTTY && !json ? (m) => process.stderr.write(`snapline: ${m}\n`) : undefined,
    });
    if (!json) {
      const s = result.summary;
      const out = [`session ${result.sessionID}  turn ${result.messageID}  exit ${result.exit}`];
      if (result.discarded) out.push(`(discarded ${result.discarded} reverted message${result.discarded === 1 ? '' : 's'})`);
      out.push(s.total.files === 0 ? 'no files changed' : formatStat(asStats(s.diffs), terminalColumns()).trimEnd());
      if (s.truncated) out.push(`(${s.total.files - s.diffs.length} more files not listed; ${s.total.files} files, +${s.total.additions} -${s.total.deletions} in all)`);
      await write(out.join('\n') + '\n');
    }
    return result.exit;
  },
};

/** Stored entries in the diff engine's shape, for formatStat (modes are not stored). */
export function asStats(diffs: readonly FileDiff[]): FileStat[] {
  return diffs.map(({ blobs, ...d }) => ({ ...d, before: blobs?.before && { ...blobs.before, mode: '' }, after: blobs?.after && { ...blobs.after, mode: '' } }));
}

export default command;
