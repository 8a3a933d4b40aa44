/**
 * What an agent integration is: how one of the agent's hook events maps onto the turn API, and
 * where its configuration lives. One file per agent implements it (claude.ts, codex.ts,
 * gemini.ts, opencode.ts); hook.ts runs the mapping, install.ts edits the configuration.
 */

/** The agents snapline installs into. */
export const AGENT_NAMES = ['claude', 'codex', 'gemini', 'opencode'] as const;
export type AgentName = (typeof AGENT_NAMES)[number];

/** A hook event as the agent sent it on stdin (a JSON object; fields are checked where read). */
export type HookEvent = Record<string, unknown>;

/** What one event means for snapline. */
export type HookAction =
  | { kind: 'begin'; agentSession: string; directory: string; message: string }
  | { kind: 'step'; agentSession: string; directory: string; tool: string; input?: unknown }
  | { kind: 'end'; agentSession: string; directory: string }
  /** The agent's session ended: close a turn still open (none is fine). */
  | { kind: 'close'; agentSession: string; directory: string }
  | { kind: 'ignore'; reason: string };

/** Where an agent's configuration file is: in a project, or the user's own. */
export type Scope = { dir: string } | { user: true };

/** One hook the agent's settings must run: an event, and for tool events the tools it matches. */
export interface HookSpec {
  event: string;
  matcher?: string;
  /** Run through the step hook script (src/agents/step-hook.sh), which answers some events without Node: the step (the event with a matcher), the turn's end and the session's end. */
  script?: boolean;
  /** Useful only through the step hook script (the barrier before each tool, the session's start): not installed where there is none (Windows). */
  onlyWithScript?: boolean;
}

/** An agent's names for the events snapline hooks, where they mirror Claude Code's. */
export interface ClaudeStyleEvents {
  /** The session starts (its standby starts). */
  start: string;
  /** The user's prompt: the turn begins. */
  begin: string;
  /** Before each tool: waits for a begin or step still being recorded. */
  barrier: string;
  /** After a tool: a step. */
  step: string;
  /** The agent is done: the turn ends. */
  end: string;
  /** The session ends: close what is open. */
  close: string;
}

/**
 * The hooks of an agent whose events mirror Claude Code's: all through the step hook script but
 * the step's (the event with a matcher, which runs it too), the barrier and the session's start
 * only where there is one (docs/agents.md, "The deferred begin", "The standby").
 */
export function claudeStyleHooks(events: ClaudeStyleEvents, tools: string): HookSpec[] {
  return [
    { event: events.start, script: true, onlyWithScript: true },
    { event: events.begin, script: true },
    { event: events.barrier, script: true, onlyWithScript: true },
    { event: events.step, matcher: tools },
    { event: events.end, script: true },
    { event: events.close, script: true },
  ];
}

export interface AgentAdapter {
  name: AgentName;
  /** The agent's name for people ("Claude Code"). */
  title: string;
  /** Maps one hook event; `cwd` is the hook process's directory (a fallback for the workspace). */
  map(event: HookEvent, env: NodeJS.ProcessEnv, cwd: string): HookAction;
  /** The file `hooks install` writes. */
  configFile(scope: Scope, env: NodeJS.ProcessEnv): string;
  /** Hooks in the agent's JSON settings (absent for OpenCode, which gets a plugin module). */
  hooks?: (tools: string | undefined) => HookSpec[];
  /** Default tool matcher for the step hook (a regular expression over tool names). */
  tools: string;
  /** The `timeout` written on each hook, in the agent's unit (seconds for Claude Code and Codex, ms for Gemini CLI). */
  hookTimeout?: number;
  /** How long the session's standby waits idle, when not the default (src/agents/standby.ts). */
  standbyIdleMs?: number;
}

/** A string field of an event, or undefined. */
export function str(event: HookEvent, key: string): string | undefined {
  const v = event[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The usual mapping of a Claude-style hook event (Claude Code, Codex and Gemini CLI send the
 * same field names): `session_id`, `cwd`, `prompt`, `tool_name`, `tool_input`, `stop_hook_active`.
 * `events` names the agent's event for each action.
 */
export function mapClaudeStyle(event: HookEvent, events: { begin: string; step: string; end: string; close?: string }, directory: string): HookAction {
  const name = str(event, 'hook_event_name');
  const agentSession = str(event, 'session_id');
  if (!name) return { kind: 'ignore', reason: 'the event has no hook_event_name' };
  if (!agentSession) return { kind: 'ignore', reason: `${name} event without a session_id` };
  switch (name) {
    case events.begin:
      return { kind: 'begin', agentSession, directory, message: str(event, 'prompt') ?? '' };
    case events.step:
      return { kind: 'step', agentSession, directory, tool: str(event, 'tool_name') ?? 'tool', input: event.tool_input };
    case events.end:
      // The agent goes on working after a Stop hook that asked it to continue: the turn is not over.
      if (event.stop_hook_active === true) return { kind: 'ignore', reason: `${name} with stop_hook_active (the agent continues)` };
      return { kind: 'end', agentSession, directory };
    case events.close:
      return { kind: 'close', agentSession, directory };
    default:
      return { kind: 'ignore', reason: `event ${name} is not one snapline records` };
  }
}
