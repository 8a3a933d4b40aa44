/** Gemini CLI: hooks in `.gemini/settings.json` (project) or `~/.gemini/settings.json` (user). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { claudeStyleHooks, mapClaudeStyle, str, type AgentAdapter, type ClaudeStyleEvents } from './adapter.js';

// Claude Code's hooks (claude.ts) under Gemini CLI's names: BeforeTool is the barrier.
const EVENTS: ClaudeStyleEvents = { start: 'SessionStart', begin: 'BeforeAgent', barrier: 'BeforeTool', step: 'AfterTool', end: 'AfterAgent', close: 'SessionEnd' };

export const gemini: AgentAdapter = {
  name: 'gemini',
  title: 'Gemini CLI',
  tools: 'run_shell_command|write_file|replace|edit',
  // Gemini CLI counts hook timeouts in milliseconds.
  hookTimeout: 60_000,
  map(event, env, cwd) {
    const directory = env.GEMINI_PROJECT_DIR || str(event, 'cwd') || cwd;
    return mapClaudeStyle(event, EVENTS, directory);
  },
  configFile(scope) {
    if ('dir' in scope) return join(scope.dir, '.gemini', 'settings.json');
    return join(homedir(), '.gemini', 'settings.json');
  },
  hooks: (tools) => claudeStyleHooks(EVENTS, tools ?? gemini.tools),
};
