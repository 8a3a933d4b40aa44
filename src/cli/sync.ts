import { UsageError } from '../errors.js';
import { listSessions, openDatabase, resolveSessionRef } from '../session/index.js';
import { fetchSnapshots, projectId, pushSnapshots, resolveWorkspace, type SyncReport } from '../snapshot/index.js';
import { parse, write, type Command } from './command.js';

const help = `snapline sync — send and fetch session snapshots through the snapshot remote

Usage:
  snapline sync [--push | --pull] [--dir DIR] [SESSION...] [--format text|json]

With snapshot.remote set (any URL git accepts: a path, ssh://, https://, git@host:repo),
each session's snapshots live on the remote as refs/snapline/<session>/<origin>, one ref
per machine's store that recorded for it. A turn pushes its snapshots when it ends (waiting
at most snapshot.pushWaitMs, then in the background); session diff --patch, revert and
serve fetch what they need on demand. sync does both by hand, for the workspace's store.

  --push      send what the remote lacks: sessions whose snapshots changed here since
              their last push (a push left to the background, or one that failed while
              the remote was unreachable), and the deletion of the remote refs of
              sessions deleted here
  --pull      fetch the snapshots of the SESSIONs, else of every session of this
              workspace's project (same root commit) in the session database
  (neither)   --push, then --pull
  --dir DIR   the workspace (default: the current directory)
  --format F  text (default) or json (the report: {remote, pushed, deleted, fetched, failed})

Exit status 1 when the remote cannot be reached or refuses a ref; nothing is lost then:
the snapshots stay in the local store and the next sync sends them.

Examples:
  snapline sync                      # after working offline
  snapline sync --pull ses_7f3a      # a teammate's session, before reviewing it offline
  SNAPLINE_CONFIG_CONTENT='{"snapshot":{"remote":"git@host:team/snapshots.git"}}' snapline sync --push
`;

const command: Command = {
  summary: 'push and fetch session snapshots through the snapshot remote',
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, { push: { type: 'boolean' }, pull: { type: 'boolean' }, dir: { type: 'string' }, format: { type: 'string' } });
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    if (v.push && v.pull) throw new UsageError('use --push or --pull, or neither for both');
    const worktree = await resolveWorkspace(v.dir ?? process.cwd());
    let sessions: string[] | undefined;
    if (positionals.length || !v.push) {
      const db = openDatabase();
      try {
        if (positionals.length) {
          sessions = [];
          for (const ref of positionals) sessions.push(await resolveSessionRef(db, ref, worktree));
        } else {
          const project = await projectId(worktree);
          sessions = project === 'global' ? [] : listSessions(db).filter((s) => s.projectID === project).map((s) => s.id);
        }
      } finally {
        db.close();
      }
    }
    const report: SyncReport = { remote: '', pushed: [], deleted: [], fetched: [], failed: [] };
    if (!v.pull) Object.assign(report, await pushSnapshots(worktree, positionals.length ? { sessions } : {}));
    if (!v.push) {
      const fetched = await fetchSnapshots(worktree, sessions ?? []);
      report.remote = fetched.remote;
      report.fetched = fetched.fetched;
    }
    if (format === 'json') await write(JSON.stringify(report) + '\n');
    else {
      const list = (ids: string[]) => (ids.length ? `: ${ids.join(' ')}` : '');
      const lines: string[] = [];
      if (!v.pull) lines.push(`pushed ${report.pushed.length} session${report.pushed.length === 1 ? '' : 's'} to ${report.remote}${list(report.pushed)}`);
      if (report.deleted.length) lines.push(`deleted the remote refs of ${report.deleted.length} deleted session${report.deleted.length === 1 ? '' : 's'}${list(report.deleted)}`);
      if (!v.push) lines.push(`fetched ${report.fetched.length} session${report.fetched.length === 1 ? '' : 's'} from ${report.remote}${list(report.fetched)}`);
      await write(lines.join('\n') + '\n');
    }
    for (const f of report.failed) process.stderr.write(`snapline: ${f.session} not pushed: ${f.message}\n`);
    return report.failed.length ? 1 : 0;
  },
};

export default command;
