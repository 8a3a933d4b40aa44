/** Agent integrations: each agent's event mapping and configuration, by name. */
import { UsageError } from '../errors.js';
import { AGENT_NAMES, type AgentAdapter, type AgentName } from './adapter.js';
import { claude } from './claude.js';
import { codex } from './codex.js';
import { gemini } from './gemini.js';
import { opencode } from './opencode.js';

export const AGENTS: Record<AgentName, AgentAdapter> = { claude, codex, gemini, opencode };

/** The adapter for an agent name given by a user; UsageError naming the known ones otherwise. */
export function agentAdapter(name: string | undefined): AgentAdapter {
  if (name === undefined) throw new UsageError(`name the agent: ${AGENT_NAMES.join(', ')}`);
  const a = (AGENTS as Record<string, AgentAdapter | undefined>)[name];
  if (!a) throw new UsageError(`unknown agent '${name}' (known: ${AGENT_NAMES.join(', ')})`);
  return a;
}

export { AGENT_NAMES, type AgentAdapter, type AgentName, type HookAction, type HookEvent, type Scope } from './adapter.js';
