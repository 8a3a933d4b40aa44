/**
 * OpenCode: a plugin module in `.opencode/plugin/` (project) or `~/.config/opencode/plugin/`
 * (user). OpenCode loads every module there and calls each exported function with
 * `{directory, worktree, client, $, …}`; the hooks it returns pass events to `snapline hook
 * opencode` in the same field names the other agents use.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mapClaudeStyle, str, type AgentAdapter } from './adapter.js';

export const opencode: AgentAdapter = {
  name: 'opencode',
  title: 'OpenCode',
  tools: 'bash|edit|write|patch|multiedit|apply_patch',
  // The plugin sees no session end: a session's standby (its first begin's recorder) cannot go on
  // as the spare, so it does not wait the default 5 minutes after the session's last event.
  standbyIdleMs: 60_000,
  map(event, _env, cwd) {
    return mapClaudeStyle(event, { begin: 'chat.message', step: 'tool.execute.after', end: 'session.idle', close: 'session.deleted' }, str(event, 'cwd') || cwd);
  },
  configFile(scope, env) {
    if ('dir' in scope) return join(scope.dir, '.opencode', 'plugin', 'snapline.js');
    return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'opencode', 'plugin', 'snapline.js');
  },
};

/** First line of the plugin module: how `hooks status/uninstall` know the file is ours. */
export const PLUGIN_MARK = '// snapline plugin for OpenCode';

/**
 * The plugin module's text. It runs inside OpenCode (Bun): it must never throw into OpenCode,
 * so every call is wrapped, and it waits for snapline synchronously so a step's snapshot is
 * taken before the agent's next tool runs (and the end's before `opencode run` exits).
 */
export function pluginSource(node: string, main: string, tools: string, version: string, stepScript?: string): string {
  return `${PLUGIN_MARK} (snapline ${version}): records each user message, tool step and idle session.
// Written by 'snapline hooks install opencode'; remove it with 'snapline hooks uninstall opencode'.
import { spawnSync } from 'node:child_process';

const NODE = ${JSON.stringify(node)};
const SNAPLINE = ${JSON.stringify(main)};
// Every event goes through this sh script (where there is one): it answers a step that changed
// nothing, and an idle session with nothing changed since the last step, without starting Node;
// it records the message's begin in the background, hands the steps to the session's standby,
// and holds each tool until what came before it is recorded (docs/agents.md).
const STEP_SCRIPT = ${JSON.stringify(stepScript ?? null)};
const TOOLS = new RegExp(${JSON.stringify(`^(?:${tools})$`)});

/** A preview of a tool's arguments: string values cut at 200 characters. */
function preview(args) {
  const out = {};
  if (!args || typeof args !== 'object') return out;
  for (const [key, value] of Object.entries(args)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
    out[key] = text.length > 200 ? text.slice(0, 200) : text;
  }
  return out;
}

/** The environment for snapline: without NODE_EXTRA_CA_CERTS, which Node reads at every start (snapline makes no TLS connection). */
function environment() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

function send(event) {
  try {
    const [program, args] = STEP_SCRIPT ? ['/bin/sh', [STEP_SCRIPT, NODE, SNAPLINE, 'hook', 'opencode']] : [NODE, [SNAPLINE, 'hook', 'opencode']];
    spawnSync(program, args, { input: JSON.stringify(event), stdio: ['pipe', 'ignore', 'ignore'], timeout: 120000, env: environment() });
  } catch {
    // snapline logs its own problems (hooks.log in its data directory); OpenCode goes on.
  }
}

export const SnaplinePlugin = async (ctx) => {
  const cwd = (ctx && (ctx.directory || ctx.worktree)) || process.cwd();
  return {
    'chat.message': async (input, output) => {
      try {
        const parts = (output && Array.isArray(output.parts) ? output.parts : []).filter((p) => p && p.type === 'text' && !p.synthetic && !p.ignored);
        send({ hook_event_name: 'chat.message', session_id: input && input.sessionID, cwd, prompt: parts.map((p) => p.text).join('\\n') });
      } catch {}
    },
    // Before every tool: waits in the script for the begin or the step still being recorded.
    'tool.execute.before': async (input) => {
      try {
        if (STEP_SCRIPT && input) send({ hook_event_name: 'tool.execute.before', session_id: input.sessionID, cwd, tool_name: input.tool });
      } catch {}
    },
    'tool.execute.after': async (input) => {
      try {
        if (!input || !TOOLS.test(String(input.tool))) return;
        send({ hook_event_name: 'tool.execute.after', session_id: input.sessionID, cwd, tool_name: input.tool, tool_input: preview(input.args) });
      } catch {}
    },
    event: async ({ event } = {}) => {
      try {
        if (event && event.type === 'session.idle') send({ hook_event_name: 'session.idle', session_id: event.properties && event.properties.sessionID, cwd });
      } catch {}
    },
  };
};
`;
}
