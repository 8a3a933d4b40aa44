/** Codex CLI: hooks in `.codex/hooks.json` (project) or `$CODEX_HOME/hooks.json` (user, default ~/.codex). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mapClaudeStyle, str, type AgentAdapter } from './adapter.js';

export const codex: AgentAdapter = {
  name: 'codex',
  title: 'Codex CLI',
  // Codex runs shell commands as "Bash" and edits files with apply_patch.
  tools: 'Bash|apply_patch|Edit|Write',
  hookTimeout: 60,
  map(event, _env, cwd) {
    // Events carry a turn_id too; one Codex session is one snapline session, its turns ours.
    return mapClaudeStyle(event, { begin: 'UserPromptSubmit', step: 'PostToolUse', end: 'Stop', close: 'SessionEnd' }, str(event, 'cwd') || cwd);
  },
  configFile(scope, env) {
    if ('dir' in scope) return join(scope.dir, '.codex', 'hooks.json');
    return join(env.CODEX_HOME || join(homedir(), '.codex'), 'hooks.json');
  },
  // As Claude Code's (claude.ts): the session's start, its prompt, the barrier before every tool
  // and its end go through the step hook script too (docs/agents.md, "The standby").
  hooks: (tools) => [
    { event: 'SessionStart', script: true, onlyWithScript: true },
    { event: 'UserPromptSubmit', script: true },
    { event: 'PreToolUse', script: true, onlyWithScript: true },
    { event: 'PostToolUse', matcher: tools ?? codex.tools },
    { event: 'Stop', script: true },
    { event: 'SessionEnd', script: true },
  ],
};
