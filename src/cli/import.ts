import { UsageError } from '../errors.js';
import { defaultOpenCodeDatabase, importOpenCode, openDatabase } from '../session/index.js';
import { parse, write, type Command } from './command.js';

const help = `snapline import — sessions from another tool's database into snapline's

Usage:
  snapline import opencode [--db PATH] [SESSION...] [--format text|json]

Copies OpenCode sessions (all, or the ids given) with their messages and parts. The file
bodies OpenCode stored in its summaries are dropped (inside SQLite, never loaded): each file
keeps {file, status, additions, deletions}. Where OpenCode's snapshot store still holds a turn's
trees (snapshot/ next to its database), the counts are recomputed from them by snapline's diff
engine, equal to git's. Parts over 256 KiB keep only their type. Sessions snapline already has
are left alone. A way out for an OpenCode database that has grown to gigabytes.

Options:
  --db PATH      OpenCode's database (default: $XDG_DATA_HOME/opencode/opencode.db,
                 else ~/.local/share/opencode/opencode.db)
  --format FMT   text (default) or json

Examples:
  snapline import opencode
  snapline import opencode --db ~/.local/share/opencode/opencode.db ses_abc ses_def
`;

const command: Command = {
  summary: "import sessions from OpenCode's database (summaries reduced to statistics)",
  help,
  async run(argv) {
    const [source, ...rest] = argv;
    if (source !== 'opencode') throw new UsageError(`import needs a source: 'snapline import opencode' (not '${source ?? ''}')`);
    const { values: v, positionals } = parse(rest, { db: { type: 'string' }, format: { type: 'string' } });
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    const path = v.db ?? defaultOpenCodeDatabase();
    const db = openDatabase();
    try {
      const r = await importOpenCode(db, path, positionals, (s) => {
        if (format === 'text') process.stderr.write(`imported ${s.id}  ${s.messages} messages, ${s.parts} parts, ${s.recounted}/${s.turns} turns recounted  ${s.title}\n`);
      });
      if (format === 'json') return (await write(JSON.stringify(r, null, 2) + '\n'), 0);
      for (const id of r.existing) await write(`already in snapline: ${id} (left as it is)\n`);
      await write(`imported ${r.imported.length} session${r.imported.length === 1 ? '' : 's'} from ${path}\n`);
      return 0;
    } finally {
      db.close();
    }
  },
};

export default command;
