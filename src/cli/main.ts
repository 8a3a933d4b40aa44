#!/usr/bin/env node
import { SnaplineError } from '../errors.js';
import { asksForJson, isReportedOnStdout, type Command } from './command.js';
import { restoreTunables } from '../malloc.js';

/** Top-level commands, loaded on demand so `snapline diff` does not pay for SQLite. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  diff: async () => (await import('./diff.js')).default,
  snapshot: async () => (await import('./snapshot.js')).default,
  run: async () => (await import('./run.js')).default,
  turn: async () => (await import('./turn.js')).default,
  hook: async () => (await import('./hook.js')).default,
  hooks: async () => (await import('./hooks.js')).default,
  session: async () => (await import('./session.js')).default,
  db: async () => (await import('./db.js')).default,
  export: async () => (await import('./export.js')).default,
  import: async () => (await import('./import.js')).default,
  serve: async () => (await import('./serve.js')).default,
  sync: async () => (await import('./sync.js')).default,
  demo: async () => (await import('./demo.js')).default,
};

/** Commands snapline runs itself, left out of the command list (their --help says so). */
const INTERNAL: Record<string, () => Promise<Command>> = {
  summarize: async () => (await import('./summarize.js')).default,
};

const VERSION = '0.1.0';

async function usage(): Promise<string> {
  const lines = ['snapline — session snapshots for AI coding agents', '', 'Usage: snapline <command> [options]', '', 'Commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${(await load()).summary}`);
  lines.push('', "Run 'snapline <command> --help' for a command's options and examples.", 'Docs: README.md in the package.');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? rest[0] : undefined;
    if (target && COMMANDS[target]) process.stdout.write((await COMMANDS[target]!()).help);
    else process.stdout.write(await usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`snapline ${VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[name] ?? INTERNAL[name];
  if (!load) {
    process.stderr.write(`snapline: unknown command '${name}' (see 'snapline --help')\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const dd = rest.indexOf('--');
    const h = rest.findIndex((a) => a === '--help' || a === '-h');
    if (dd < 0 || h < dd) {
      process.stdout.write(cmd.help);
      return 0;
    }
  }
  // A command that snapshots ends when its work is done: a sealer it needs starts after it
  // exits, never beside its own summary (docs/snapshot.md, "Big files"). serve lives on.
  if (SNAPSHOTTING.has(name)) (await import('../snapshot/pending.js')).sealersAtExit();
  return cmd.run(rest);
}

/** Commands that may snapshot a workspace and then exit. */
const SNAPSHOTTING = new Set(['run', 'turn', 'hook', 'snapshot', 'session']);

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

/**
 * A failure as one JSON line for a reader that asked for `--format json`: `run` speaks in
 * events, so it gets an `error` event like a failure during the turn; every other command
 * `{"error": {"name", "message"}}`. `name` is the error's stable code.
 */
function jsonError(argv: readonly string[], name: string, message: string): string {
  if (argv[0] !== 'run') return JSON.stringify({ error: { name, message } });
  const event: Record<string, unknown> = { type: 'error', timestamp: Date.now() };
  const session = sessionOption(argv);
  if (session !== undefined) event.sessionID = session;
  event.error = { name, data: { message } };
  return JSON.stringify(event);
}

/** The --session value as typed (the error event names it when the failure came first). */
function sessionOption(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    if (argv[i] === '--session' || argv[i] === '-s') return argv[i + 1];
    if (argv[i]!.startsWith('--session=')) return argv[i]!.slice('--session='.length);
  }
  return undefined;
}

// bin/snapline hands NODE_EXTRA_CA_CERTS over under this name so that Node does not read the
// bundle at start (snapline makes no TLS connection); what snapline runs gets it back.
const handedOver = process.env.SNAPLINE_NODE_EXTRA_CA_CERTS;
if (handedOver !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = handedOver;
  delete process.env.SNAPLINE_NODE_EXTRA_CA_CERTS;
}
// bin/snapline and the background processes start Node with snapline's malloc settings
// (src/malloc.ts); what snapline runs gets the user's GLIBC_TUNABLES back.
restoreTunables();

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const known = e instanceof SnaplineError;
    const message = known ? e.message : e instanceof Error ? e.message : String(e);
    if (known) {
      process.stderr.write(`snapline: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`snapline: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    }
    if (asksForJson(argv) && !isReportedOnStdout(e)) process.stdout.write(jsonError(argv, known ? e.code : 'internal', message) + '\n');
  },
);
