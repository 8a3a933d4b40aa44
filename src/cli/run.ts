import { constants as osConstants } from 'node:os';
import { UsageError } from '../errors.js';
import type { FileStat } from '../diff/numstat.js';
import { formatStat } from '../diff/stat.js';
// Each module by name, not the session/index.js barrel: a turn loads only what it runs.
import { openDatabase } from '../session/db.js';
import type { FileDiff } from '../session/model.js';
import { resolveSessionRef } from '../session/resolve.js';
import { runTurn, type TurnEvent } from '../session/turn.js';
import { intOption, markReportedOnStdout, parse, statusLine, terminalColumns, write, type Command } from './command.js';

const help = `snapline run — record one turn of a session: snapshot, run the work, snapshot, summarise

Usage:
  snapline run [MESSAGE...] [--dir DIR] [--session ID | --continue] [--title T] [--wait SECONDS]
               [--format default|json] (--exec CMD | --agent-cmd CMD [--capture])

The turn is stored as a user message (MESSAGE) and an assistant message whose parts are
step-start {snapshot}, the work (a bash "tool" part or the agent's "text"), step-finish
{snapshot, skipped?} and patch {hash, files}; the turn's +/- summary goes on the user message.

The workspace snapshotted is the git work tree around DIR (its top level, as 'git rev-parse
--show-toplevel' says), or DIR itself outside one; the command runs in DIR. So a run started in
repo/lib records changes anywhere in repo, and "echo >> ../index.js" means what it says there.

Options:
  --dir DIR          where the command runs (default: the current directory; with --session, the
                     session's workspace unless the current directory is inside it)
  --session ID       add the turn to this session (a unique prefix of its id is enough)
  --continue, -c     add the turn to the most recently updated session of the workspace
  --title T          title of a new session
  --exec CMD         run CMD with bash; its output streams to you as it runs (stdout/stderr; to
                     stderr with --format json), the first 32 KiB is stored
  --agent-cmd CMD    run an agent CLI (CMD split on whitespace, quotes respected) with MESSAGE as
                     its last argument. On a terminal (stdin is a tty, default format) the agent
                     gets the terminal, so interactive agents work, and its output is not stored
                     (the text part says so); otherwise its output is stored (first 32 KiB).
                     (--agent CMD still works, with a note: it is the old name)
  --capture          with --agent-cmd on a terminal: capture the agent's output anyway (no terminal)
  --wait SECONDS     while another run, revert or delete holds the workspace, wait for it up to
                     SECONDS, saying every 10 s who holds it (default: config session.waitSeconds,
                     600); 0 gives up at once. Nothing is recorded when it gives up.
  --format FMT       default: the command's output, warnings, then the turn's stat;
                     json: one JSON event per line, like 'opencode run --format json'
                     ({"type": step_start|tool_use|text|step_finish|error, timestamp, sessionID, part});
                     any failure, also one before the turn starts (an unknown session, bad
                     options), is an "error" event {type, timestamp, sessionID?, error: {name, data: {message}}}

Stopping: Ctrl-C (SIGINT), SIGTERM or SIGHUP sent to snapline goes to the command's whole process
group; a second one within 3 s kills the group. Either way the turn is recorded (end snapshot
and summary, marked interrupted) and snapline exits 128 + the signal's number (130 for Ctrl-C).
An agent that has the terminal gets Ctrl-C from the terminal itself and decides what it means
(snapline then just waits for it to exit).

Exit status: the command's own exit status (a failed command is still recorded), or 128 + N when
stopped by signal N. A new run on a reverted session discards the reverted turns (as OpenCode
does). Files a snapshot could not include (over snapshot.maxFileSize, unreadable) are listed as
warnings and recorded in the step parts. On a terminal, progress is one line redrawn in place.

Examples:
  snapline run "regenerate the build files" --exec 'make -j2'
  cd repo/lib && snapline run "bump the parent" --exec 'echo >> ../index.js'   # recorded in repo
  snapline run "fix the tests" --continue --agent-cmd 'my-agent --yes'
  snapline run "nightly regen" --wait 3600 --exec './regen.sh'   # queue behind an agent's turn
  snapline run "turn 2" --session ses_e5dc --format json --exec './gen.sh 2'

Agents with hooks (Claude Code, Codex, Gemini CLI, OpenCode) need no wrapper: see
'snapline hooks --help' and 'snapline turn --help'.
`;

const command: Command = {
  summary: 'record one turn: snapshot, run --exec/--agent-cmd, snapshot, summarise',
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, {
      dir: { type: 'string' },
      session: { type: 'string', short: 's' },
      continue: { type: 'boolean', short: 'c' },
      title: { type: 'string' },
      format: { type: 'string' },
      exec: { type: 'string' },
      'agent-cmd': { type: 'string' },
      agent: { type: 'string' },
      capture: { type: 'boolean' },
      wait: { type: 'string' },
    });
    if (v.agent !== undefined) {
      if (v['agent-cmd'] !== undefined) throw new UsageError('give the agent command once: --agent-cmd (--agent is its old name)');
      process.stderr.write("snapline: note: 'run --agent CMD' is now 'run --agent-cmd CMD' (--agent still works for now)\n");
    }
    const agentCommand = v['agent-cmd'] ?? v.agent;
    const format = v.format ?? 'default';
    if (format !== 'default' && format !== 'json') throw new UsageError(`--format must be default or json, not '${format}'`);
    if (v.session !== undefined && v.continue) throw new UsageError('use either --session or --continue, not both');
    if ((v.exec === undefined) === (agentCommand === undefined)) throw new UsageError('give exactly one of --exec CMD or --agent-cmd CMD');
    if (v.capture && agentCommand === undefined) throw new UsageError('--capture goes with --agent-cmd');
    const json = format === 'json';
    let errorEventSent = false;
    const onEvent = json
      ? (e: TurnEvent) => {
          if (e.type === 'error') errorEventSent = true;
          void write(JSON.stringify(e) + '\n');
        }
      : undefined;
    const sessionId = v.session === undefined ? undefined : await sessionFromPrefix(v.session);
    // Progress is one line redrawn in place; every other line clears it first.
    const status = json ? { clear() {} } : statusLine();
    const say = (m: string) => {
      status.clear();
      process.stderr.write(`snapline: ${m}\n`);
    };
    try {
      const result = await runTurn({
        message: positionals.join(' '),
        directory: v.dir,
        sessionId,
        continue: v.continue,
        title: v.title,
        exec: v.exec,
        agentCommand,
        terminal: agentCommand !== undefined && !json && !v.capture && process.stdin.isTTY === true,
        waitSeconds: v.wait === undefined ? undefined : intOption('wait', v.wait, 0),
        handleSignals: true,
        onEvent,
        onOutput: (chunk, stream) => {
          status.clear();
          if (json || stream === 'stderr') process.stderr.write(chunk);
          else process.stdout.write(chunk);
        },
        onWarning: (m) => say(`warning: ${m}`),
        onWait: say,
        onInterrupt: say,
        onProgress: status.show && ((m) => (m ? status.show!(`snapline: ${m}`) : status.clear())),
      }).catch((e: unknown) => {
        // The turn already told a json reader with its own error event: say it only once.
        if (errorEventSent) markReportedOnStdout(e);
        throw e;
      });
      status.clear();
      if (!json) {
        const s = result.summary;
        const out = [`session ${result.sessionID}  turn ${result.messageID}  exit ${result.exit}${result.interrupted ? `  (interrupted by ${result.interrupted})` : ''}`];
        if (result.discarded) out.push(`(discarded ${result.discarded} reverted message${result.discarded === 1 ? '' : 's'})`);
        out.push(s.total.files === 0 ? 'no files changed' : formatStat(asStats(s.diffs), terminalColumns()).trimEnd());
        if (s.truncated) out.push(`(${s.total.files - s.diffs.length} more files not listed; ${s.total.files} files, +${s.total.additions} -${s.total.deletions} in all)`);
        await write(out.join('\n') + '\n');
      }
      return result.interrupted ? 128 + (osConstants.signals[result.interrupted] ?? 0) : result.exit;
    } finally {
      status.clear();
    }
  },
};

/** The full id of the session a unique prefix names. */
async function sessionFromPrefix(ref: string): Promise<string> {
  const db = openDatabase();
  try {
    return await resolveSessionRef(db, ref, process.cwd());
  } finally {
    db.close();
  }
}

/** Stored entries in the diff engine's shape, for formatStat (modes are not stored). */
export function asStats(diffs: readonly FileDiff[]): FileStat[] {
  return diffs.map(({ blobs, ...d }) => ({ ...d, before: blobs?.before && { ...blobs.before, mode: '' }, after: blobs?.after && { ...blobs.after, mode: '' } }));
}

export default command;
