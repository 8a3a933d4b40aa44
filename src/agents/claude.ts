/** Claude Code: hooks in `.claude/settings.json` (project) or `~/.claude/settings.json` (user). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { claudeStyleHooks, mapClaudeStyle, str, type AgentAdapter, type ClaudeStyleEvents } from './adapter.js';

const EVENTS: ClaudeStyleEvents = { start: 'SessionStart', begin: 'UserPromptSubmit', barrier: 'PreToolUse', step: 'PostToolUse', end: 'Stop', close: 'SessionEnd' };

export const claude: AgentAdapter = {
  name: 'claude',
  title: 'Claude Code',
  tools: 'Bash|Write|Edit|MultiEdit|NotebookEdit',
  hookTimeout: 60,
  map(event, env, cwd) {
    // CLAUDE_PROJECT_DIR is the project root even when the session has cd'ed into a subdirectory.
    const directory = env.CLAUDE_PROJECT_DIR || str(event, 'cwd') || cwd;
    return mapClaudeStyle(event, EVENTS, directory);
  },
  configFile(scope, env) {
    if ('dir' in scope) return join(scope.dir, '.claude', 'settings.json');
    return join(env.CLAUDE_CONFIG_DIR || join(homedir(), '.claude'), 'settings.json');
  },
  // The prompt goes through the step hook script too, which defers the begin; the barrier before
  // every tool (PreToolUse, all tools) waits for it there (docs/agents.md, "The deferred begin").
  // The session's start starts its standby there ("The standby").
  hooks: (tools) => claudeStyleHooks(EVENTS, tools ?? claude.tools),
};
