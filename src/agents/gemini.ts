/** Gemini CLI: hooks in `.gemini/settings.json` (project) or `~/.gemini/settings.json` (user). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mapClaudeStyle, str, type AgentAdapter } from './adapter.js';

export const gemini: AgentAdapter = {
  name: 'gemini',
  title: 'Gemini CLI',
  tools: 'run_shell_command|write_file|replace|edit',
  // Gemini CLI counts hook timeouts in milliseconds.
  hookTimeout: 60_000,
  map(event, env, cwd) {
    const directory = env.GEMINI_PROJECT_DIR || str(event, 'cwd') || cwd;
    return mapClaudeStyle(event, { begin: 'BeforeAgent', step: 'AfterTool', end: 'AfterAgent', close: 'SessionEnd' }, directory);
  },
  configFile(scope) {
    if ('dir' in scope) return join(scope.dir, '.gemini', 'settings.json');
    return join(homedir(), '.gemini', 'settings.json');
  },
  // As Claude Code's (claude.ts), under Gemini CLI's names: BeforeTool is the barrier.
  hooks: (tools) => [
    { event: 'SessionStart', script: true, onlyWithScript: true },
    { event: 'BeforeAgent', script: true },
    { event: 'BeforeTool', script: true, onlyWithScript: true },
    { event: 'AfterTool', matcher: tools ?? gemini.tools },
    { event: 'AfterAgent', script: true },
    { event: 'SessionEnd', script: true },
  ],
};
