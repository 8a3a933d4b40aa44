import { startServer } from '../server/index.js';
import { intOption, parse, type Command } from './command.js';

const help = `snapline serve — OpenCode's session API and a review page for snapline's sessions

Usage:
  snapline serve [--port 4096] [--hostname 127.0.0.1]

Serves, on 127.0.0.1 by default:
  /                      the review page: sessions, turns with +/- bars, each turn's files,
                         unified and split diffs, revert with a preview, unrevert, live updates
  /session…              OpenCode's routes (list, get, delete, messages, diff, revert, unrevert)
  /event                 server-sent events as turns are recorded by any process
  /doc                   the API in OpenAPI form

Security: any address but loopback needs SNAPLINE_SERVER_PASSWORD (HTTP basic auth, user
'snapline' or SNAPLINE_SERVER_USERNAME). State-changing requests need the per-server token
printed at start in the x-snapline-token header (the page carries it) and a same-site Origin.

Options:
  --port N           port (default 4096; 0 picks a free one)
  --hostname H       address to listen on (default 127.0.0.1)

Examples:
  snapline serve
  snapline serve --port 0
  SNAPLINE_SERVER_PASSWORD=secret snapline serve --hostname 0.0.0.0
`;

const command: Command = {
  summary: 'serve the session API (OpenCode-compatible) and the review page',
  help,
  async run(argv) {
    const { values: v } = parse(argv, { port: { type: 'string' }, hostname: { type: 'string' } });
    const server = await startServer({
      port: intOption('port', v.port, 4096, 65535),
      hostname: v.hostname,
      password: process.env.SNAPLINE_SERVER_PASSWORD || undefined,
      username: process.env.SNAPLINE_SERVER_USERNAME || undefined,
    });
    process.stdout.write(`snapline serve: listening on ${server.url}\ntoken for state-changing requests (x-snapline-token): ${server.token}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    return 0;
  },
};

export default command;
