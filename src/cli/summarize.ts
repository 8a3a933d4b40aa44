import { log, logSummary } from '../agents/hook.js';
import { UsageError } from '../errors.js';
import { parse, type Command } from './command.js';

const help = `snapline summarize — complete the turn summaries an agent's hooks left pending (internal)

Usage:
  snapline summarize [--session ID] [--db PATH]

Run in the background by 'snapline hook' when it ends a turn: the hook records the end snapshot
and leaves the turn's summary, patch part and session totals to this process, so the agent
does not wait for the comparison. Every reader ('session show', 'session list', export, the
server) completes pending summaries itself when no such process is working on them, so you
never need to run this. Progress and problems go to hooks.log in the data directory.

Options:
  --session ID   only this session's pending summaries (default: all)
  --db PATH      the SQLite database (default: the configured one)
`;

const command: Command = {
  summary: 'complete pending turn summaries (internal: started by agent hooks)',
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, { session: { type: 'string' }, db: { type: 'string' } });
    if (positionals.length) throw new UsageError('summarize takes no positional arguments');
    const { openDatabase } = await import('../session/db.js');
    const { settleSummaries } = await import('../session/pending.js');
    const db = openDatabase(v.db);
    try {
      await settleSummaries(db, {
        sessionId: v.session,
        onWarning: (m) => log(`summarize: ${m}`),
        onDone: logSummary,
      });
    } finally {
      db.close();
    }
    return 0;
  },
};

export default command;
