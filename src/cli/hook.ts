import { basename, dirname } from 'node:path';
import { agentAdapter } from '../agents/index.js';
import { recordDeferredBegin, recordPendingEnd, runHook } from '../agents/hook.js';
import { leaveOpenUntilExit } from '../session/sqlite.js';
import type { Command } from './command.js';

const help = `snapline hook — record one event of an agent's hooks (the agent runs this, not you)

Usage:
  snapline hook AGENT        AGENT: claude, codex, gemini or opencode; the event JSON on stdin

Installed by 'snapline hooks install AGENT'. The event is mapped onto 'snapline turn':
  user prompt (Claude/Codex UserPromptSubmit, Gemini BeforeAgent, OpenCode chat.message)  → turn begin
  a tool that may change files (PostToolUse / AfterTool / tool.execute.after)             → turn step
  the agent is done (Stop / AfterAgent / session.idle; a Stop with stop_hook_active
  is ignored: the agent goes on)                                                          → turn end
  the session ends (SessionEnd)                                                           → end a turn left open
The agent's own session id picks the snapline session (one per agent session).
An end records the final snapshot and leaves the turn's summary to a background
'snapline summarize' (readers complete it if that is gone); SNAPLINE_DEFER_SUMMARY=0 in the
agent's environment computes it before the hook returns.
The installed step, end and session-end hooks first run snapline's step-hook.sh, which answers
without Node a step that changed nothing, an end with nothing changed since the last step, and
a session end with no turn open. The steps it answered are recorded by the next 'snapline
hook'; an end it answered by a detached 'snapline hook AGENT --pending-end SESSION' it starts
(internal), or first by the next turn call or reader ('session show', the server, …), with
the last step's snapshot as the end's, at the time the script checked.

For Claude Code, Codex CLI, Gemini CLI and OpenCode the prompt goes through step-hook.sh as
well: it starts a detached 'snapline hook AGENT --begin-from FILE' (internal) that records the
begin, and returns; every later event of the session (first PreToolUse, or Gemini CLI's
BeforeTool, or OpenCode's tool.execute.before, installed for every tool) waits until that begin is recorded, so no tool runs before the
begin's snapshot. The session's start (SessionStart) starts a 'snapline hook AGENT --standby
SESSION' (internal), and the begin's recorder stays
on as one: a Node process with snapline loaded, to which step-hook.sh hands the session's
prompts, its steps, the ends it cannot answer itself and the recording of those it answered,
instead of starting Node (~0.2 s a hook). A step it hands over is deferred: the hook returns
once the standby has it, and the session's next events (the next tool first) wait until the
step is recorded; its problems go to hooks.log only. The turn's end (Stop, AfterAgent,
session.idle) that comes meanwhile goes behind that step and returns at once: the standby
records it next, with the step's snapshot as the end's. When the session ends it stays on as
the spare, which the next session's start takes over (with that session's environment), and
exits after 5 minutes with nothing to do (OpenCode's plugin has no session start or end: the
begin's recorder is its standby, and exits after 1 idle minute); SNAPLINE_STANDBY=0 in the
agent's environment does without it.

It never gets in the agent's way: the exit status is always 0, nothing is printed on stdout,
a problem is one line on stderr and a line in hooks.log in the data directory, and a busy
workspace is waited for at most hooks.waitMs (default 5000) in snapline.json.

Example (what Claude Code does after a Bash tool call):
  echo '{"hook_event_name":"PostToolUse","session_id":"abc","cwd":"/src/app","tool_name":"Bash","tool_input":{"command":"make"}}' | snapline hook claude
`;

const command: Command = {
  summary: "record one agent hook event (run by the agent; see 'hooks install')",
  help,
  async run(argv) {
    try {
      // Internal: the recorder the step hook script starts, detached, after answering an end.
      if (argv.length === 3 && argv[1] === '--pending-end') {
        await recordPendingEnd(agentAdapter(argv[0]), argv[2]!);
        return 0;
      }
      // Internal: the begin the step hook script deferred, recorded detached; then this process
      // stays as the agent session's standby (unless one is there already).
      if (argv.length === 3 && argv[1] === '--begin-from') {
        leaveOpenUntilExit();
        const agent = agentAdapter(argv[0]);
        await recordDeferredBegin(agent, argv[2]!);
        if (process.env.SNAPLINE_STANDBY !== '0') await (await import('../agents/standby.js')).standBy(agent, basename(dirname(argv[2]!)));
        process.exit(0);
      }
      // Internal: the agent session's standby, started by the step hook script at the session's start.
      if (argv.length === 3 && argv[1] === '--standby') {
        leaveOpenUntilExit();
        await (await import('../agents/standby.js')).standBy(agentAdapter(argv[0]), argv[2]!);
        process.exit(0);
      }
      if (argv.length !== 1) throw new Error(`'snapline hook' takes one agent name (claude, codex, gemini, opencode), got ${argv.length}`);
      leaveOpenUntilExit();
      const outcome = await runHook(agentAdapter(argv[0]), process.stdin);
      if (outcome.problem) process.stderr.write(`snapline hook ${argv[0]}: ${outcome.problem}\n`);
    } catch (e) {
      process.stderr.write(`snapline hook: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    }
    // Everything is done and written (stderr is synchronous on Linux; the background starts
    // run on 'exit'): ending here leaves the database to the next process (leaveOpenUntilExit).
    process.exit(0);
  },
};

export default command;
