/** Codex CLI: hooks in `.codex/hooks.json` (project) or `$CODEX_HOME/hooks.json` (user, default ~/.codex). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { claudeStyleHooks, mapClaudeStyle, str, type AgentAdapter, type ClaudeStyleEvents } from './adapter.js';

// Claude Code's names (claude.ts), and the same hooks.
const EVENTS: ClaudeStyleEvents = { start: 'SessionStart', begin: 'UserPromptSubmit', barrier: 'PreToolUse', step: 'PostToolUse', end: 'Stop', close: 'SessionEnd' };

export const codex: AgentAdapter = {
  name: 'codex',
  title: 'Codex CLI',
  // Codex runs shell commands as "Bash" and edits files with apply_patch.
  tools: 'Bash|apply_patch|Edit|Write',
  hookTimeout: 60,
  map(event, _env, cwd) {
    // Events carry a turn_id too; one Codex session is one snapline session, its turns ours.
    return mapClaudeStyle(event, EVENTS, str(event, 'cwd') || cwd);
  },
  configFile(scope, env) {
    if ('dir' in scope) return join(scope.dir, '.codex', 'hooks.json');
    return join(env.CODEX_HOME || join(homedir(), '.codex'), 'hooks.json');
  },
  hooks: (tools) => claudeStyleHooks(EVENTS, tools ?? codex.tools),
};
