import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { UsageError } from '../errors.js';
import { resolveWorkspace } from '../snapshot/index.js';
import { exportSessionJson, latestSessionHere, openSettledDatabase, UnknownSession } from '../session/index.js';
import { parse, write, type Command } from './command.js';

const help = `snapline export — a session as OpenCode's export JSON ('opencode import FILE' reads it)

Usage:
  snapline export [SESSION] [--output FILE]

Writes {info, messages: [{info, parts}]}: the session, then each message with its parts, in
OpenCode's shapes. Summaries carry statistics and blob ids, never file bodies. Without SESSION,
the most recently updated session of the current workspace.

Options:
  -o, --output FILE   write to FILE instead of standard output

Examples:
  snapline export ses_... --output session.json && opencode import session.json
  snapline export > latest.json
`;

const command: Command = {
  summary: "write a session as OpenCode's export JSON",
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, { output: { type: 'string', short: 'o' } });
    if (positionals.length > 1) throw new UsageError('export takes at most one session id');
    const db = await openSettledDatabase(undefined, { readonly: true, onWarning: (m) => process.stderr.write(`snapline: warning: ${m}\n`) });
    try {
      let id = positionals[0];
      if (id === undefined) {
        const workspace = await resolveWorkspace(process.cwd());
        const latest = await latestSessionHere(db, workspace);
        if (!latest) throw new UnknownSession(`(latest in ${workspace})`);
        id = latest.id;
      }
      const chunks = exportSessionJson(db, id);
      const first = chunks.next(); // an unknown session fails before the output file is created
      if (v.output === undefined) {
        if (!first.done) await write(first.value);
        for (const c of chunks) await write(c);
        return 0;
      }
      const out = createWriteStream(v.output, { flags: 'w' });
      const failed = once(out, 'error').then(([e]) => {
        throw new UsageError(`cannot write ${v.output}: ${(e as Error).message}`);
      });
      failed.catch(() => undefined); // raced below; never left unhandled
      const put = async (c: string) => {
        if (!out.write(c)) await Promise.race([once(out, 'drain'), failed]);
      };
      if (!first.done) await put(first.value);
      for (const c of chunks) await put(c);
      out.end();
      await Promise.race([once(out, 'finish'), failed]);
      return 0;
    } finally {
      db.close();
    }
  },
};

export default command;
