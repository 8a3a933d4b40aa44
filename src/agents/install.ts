/**
 * `hooks install/uninstall/status`: edits an agent's own configuration so it calls
 * `snapline hook AGENT` (or, for OpenCode, loads snapline's plugin module). Everything else in
 * the file is kept, a second install changes nothing, the previous file is kept as
 * `<file>.snapline-backup` before any change, and a file that does not parse is refused.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI_MAIN } from '../background.js';
import { fastStepsTmp } from '../config.js';
import { shellQuote } from '../git/run.js';
import { AGENTS } from './index.js';
import type { AgentAdapter, HookSpec, Scope } from './adapter.js';
import { NotOurFile, SettingsUnreadable } from './errors.js';
import { PLUGIN_MARK, pluginSource } from './opencode.js';

export interface InstallOptions {
  scope: Scope;
  /** Tool matcher for the step hook (a regular expression; default: the agent's file-changing tools). */
  tools?: string;
  env?: NodeJS.ProcessEnv;
  /** Program and script the agent runs (default: this node and this snapline's main.js). */
  node?: string;
  main?: string;
}

export interface InstallResult {
  agent: string;
  file: string;
  /** False when the file already said exactly this. */
  changed: boolean;
  /** Where the previous file was saved, if there was one and it changed. */
  backup?: string;
  /** Advice for the user (e.g. turning off the agent's own snapshots). */
  notes: string[];
}

export interface HooksStatus {
  agent: string;
  file: string;
  /** `installed`: every hook is there; `partial`: some are; `absent`: none (or no file). */
  state: 'installed' | 'partial' | 'absent';
  /** The agent's events that run snapline. */
  events: string[];
}

const VERSION = '0.1.0';
export const BACKUP_SUFFIX = '.snapline-backup';

/** The snapline entry point an installed hook runs (this package's own CLI). */
export function snaplineMain(): string {
  return CLI_MAIN;
}

/**
 * The step hook script of the snapline whose entry point is `main` (the build puts it beside
 * the agents' modules), or undefined when that snapline has none.
 */
export function stepHookScript(main = snaplineMain()): string | undefined {
  if (process.platform === 'win32') return undefined; // no /bin/sh: every step goes to Node
  const script = join(dirname(main), '..', 'agents', 'step-hook.sh');
  return existsSync(script) ? script : undefined;
}

/**
 * The command line an agent runs for a hook: `<node> <main.js> hook AGENT`, quoted for sh. With
 * `viaScript` (the step event, the turn's end and the session's end), the step hook script runs
 * first (`/bin/sh step-hook.sh <node> <main.js> hook AGENT`): it answers a step that changed
 * nothing, an end right after the open step with nothing changed since, or a session end with
 * no turn open, without starting Node, and runs the rest. Otherwise Node
 * starts without NODE_EXTRA_CA_CERTS (`env -u`), as the script starts it: Node reads that
 * bundle at every start (30–40 ms for a system bundle here), and a hook makes no TLS connection
 * and starts nothing that does (git brings its own certificates).
 */
export function hookCommand(agent: string, node = process.execPath, main = snaplineMain(), viaScript = false): string {
  const command = `${shellQuote(node)} ${shellQuote(main)} hook ${agent}`;
  const script = viaScript ? stepHookScript(main) : undefined;
  if (script) return `/bin/sh ${shellQuote(script)} ${command}`;
  return process.platform === 'win32' ? command : `env -u NODE_EXTRA_CA_CERTS ${command}`;
}

export async function installHooks(agent: AgentAdapter, opts: InstallOptions): Promise<InstallResult> {
  const env = opts.env ?? process.env;
  const file = agent.configFile(opts.scope, env);
  const node = opts.node ?? process.execPath;
  const main = opts.main ?? snaplineMain();
  // Until this exists the step hook script hands every event to Node: the first session, too,
  // gets the script's fast paths (its standby, the deferred begin).
  if (stepHookScript(main)) await mkdir(fastStepsTmp(env), { recursive: true });
  if (!agent.hooks) {
    const text = pluginSource(node, main, opts.tools ?? agent.tools, VERSION, stepHookScript(main));
    const old = await readText(file);
    if (old !== undefined && !old.startsWith(PLUGIN_MARK)) throw new NotOurFile(file);
    const notes = await opencodeNotes(opts.scope, env);
    if (old === text) return { agent: agent.name, file, changed: false, notes };
    await writeAtomically(file, text);
    return { agent: agent.name, file, changed: true, notes };
  }
  const specs = wantedHooks(agent, opts.tools, main);
  const { settings, text } = await readSettings(file);
  const next = withoutOurHooks(settings, agent.name);
  const hooks = (next.hooks ??= {}) as Record<string, unknown[]>;
  // The tool event (the one with a matcher) is the step.
  for (const spec of specs) (hooks[spec.event] ??= []).push(group(spec, hookCommand(agent.name, node, main, spec.matcher !== undefined || spec.script === true), agent.hookTimeout));
  return { agent: agent.name, file, ...(await saveSettings(file, text, settings, next)), notes: agent.name === 'codex' ? [CODEX_NOTE] : [] };
}

/** Codex runs hooks only when enabled, in a trusted project, and after the user reviewed them. */
const CODEX_NOTE = "Codex runs these hooks once they are enabled ([features] hooks = true in config.toml), the project is trusted, and you have reviewed them in Codex";

export async function uninstallHooks(agent: AgentAdapter, opts: InstallOptions): Promise<InstallResult> {
  const file = agent.configFile(opts.scope, opts.env ?? process.env);
  if (!agent.hooks) {
    const old = await readText(file);
    if (old === undefined) return { agent: agent.name, file, changed: false, notes: [] };
    if (!old.startsWith(PLUGIN_MARK)) throw new NotOurFile(file);
    await rm(file);
    return { agent: agent.name, file, changed: true, notes: [] };
  }
  const { settings, text } = await readSettings(file);
  if (text === undefined) return { agent: agent.name, file, changed: false, notes: [] };
  return { agent: agent.name, file, ...(await saveSettings(file, text, settings, withoutOurHooks(settings, agent.name))), notes: [] };
}

export async function hooksStatus(agent: AgentAdapter, opts: InstallOptions): Promise<HooksStatus> {
  const file = agent.configFile(opts.scope, opts.env ?? process.env);
  if (!agent.hooks) {
    const old = await readText(file);
    const ours = old !== undefined && old.startsWith(PLUGIN_MARK);
    return { agent: agent.name, file, state: ours ? 'installed' : 'absent', events: ours ? ['chat.message', 'tool.execute.before', 'tool.execute.after', 'session.idle'] : [] };
  }
  const { settings } = await readSettings(file);
  const wanted = wantedHooks(agent, opts.tools, opts.main ?? snaplineMain()).map((s) => s.event);
  const hooks = isObject(settings.hooks) ? settings.hooks : {};
  const events = wanted.filter((e) => Array.isArray(hooks[e]) && (hooks[e] as unknown[]).some((g) => groupCommands(g).some((c) => isOurCommand(c, agent.name))));
  return { agent: agent.name, file, state: events.length === 0 ? 'absent' : events.length === wanted.length ? 'installed' : 'partial', events };
}

/** The hooks `install` writes for the agent: those that need the step hook script only where there is one. */
function wantedHooks(agent: AgentAdapter, tools: string | undefined, main: string): HookSpec[] {
  const specs = agent.hooks?.(tools) ?? [];
  return stepHookScript(main) ? specs : specs.filter((s) => !s.onlyWithScript);
}

/** Every agent's status in one scope. */
export async function allStatus(opts: InstallOptions): Promise<HooksStatus[]> {
  return Promise.all(Object.values(AGENTS).map((a) => hooksStatus(a, opts)));
}

function group(spec: HookSpec, command: string, timeout: number | undefined): Record<string, unknown> {
  const g: Record<string, unknown> = {};
  if (spec.matcher !== undefined) g.matcher = spec.matcher;
  g.hooks = [timeout === undefined ? { type: 'command', command } : { type: 'command', command, timeout }];
  return g;
}

/** A hook command snapline installed for this agent (any node and main.js path: an older install counts). */
function isOurCommand(command: string, agent: string): boolean {
  return new RegExp(`\\shook ${agent}$`).test(command.trim()) && /snapline|main\.js/.test(command);
}

function groupCommands(g: unknown): string[] {
  if (!isObject(g) || !Array.isArray(g.hooks)) return [];
  return g.hooks.flatMap((h) => (isObject(h) && typeof h.command === 'string' ? [h.command] : []));
}

/** A copy of the settings without snapline's hooks for this agent (groups and events left empty are dropped). */
function withoutOurHooks(settings: Record<string, unknown>, agent: string): Record<string, unknown> {
  const next = structuredClone(settings);
  if (!isObject(next.hooks)) return next;
  const hooks = next.hooks;
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue;
    const kept = groups.flatMap((g) => {
      if (!isObject(g) || !Array.isArray(g.hooks)) return [g];
      const left = g.hooks.filter((h) => !(isObject(h) && typeof h.command === 'string' && isOurCommand(h.command, agent)));
      if (left.length === g.hooks.length) return [g];
      return left.length ? [{ ...g, hooks: left }] : [];
    });
    if (kept.length) hooks[event] = kept;
    else delete hooks[event];
  }
  if (Object.keys(hooks).length === 0) delete next.hooks;
  return next;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SettingsUnreadable(file, (e as Error).message);
  }
}

async function readSettings(file: string): Promise<{ settings: Record<string, unknown>; text?: string }> {
  const text = await readText(file);
  if (text === undefined || text.trim() === '') return { settings: {}, text };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SettingsUnreadable(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw new SettingsUnreadable(file, 'not a JSON object');
  if (v.hooks !== undefined && !isObject(v.hooks)) throw new SettingsUnreadable(file, "'hooks' is not an object");
  for (const [event, groups] of Object.entries(isObject(v.hooks) ? v.hooks : {})) if (!Array.isArray(groups)) throw new SettingsUnreadable(file, `'hooks.${event}' is not an array`);
  return { settings: v, text };
}

/** Writes the new settings if they differ, after saving the old file as the backup. */
async function saveSettings(file: string, oldText: string | undefined, old: Record<string, unknown>, next: Record<string, unknown>): Promise<{ changed: boolean; backup?: string }> {
  if (JSON.stringify(old) === JSON.stringify(next)) return { changed: false };
  let backup: string | undefined;
  if (oldText !== undefined) {
    backup = file + BACKUP_SUFFIX;
    await copyFile(file, backup);
  }
  await writeAtomically(file, JSON.stringify(next, null, 2) + '\n');
  return backup ? { changed: true, backup } : { changed: true };
}

/** Replaces a file in one step (a temporary file renamed over it), keeping its permissions. */
async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const mode = await stat(file).then((s) => s.mode & 0o777, () => undefined);
  const tmp = `${file}.snapline-${process.pid}.tmp`;
  try {
    await writeFile(tmp, text);
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** OpenCode keeps its own snapshots (which drop big files): say how to turn them off, never do it silently. */
async function opencodeNotes(scope: Scope, env: NodeJS.ProcessEnv): Promise<string[]> {
  const configs = 'dir' in scope ? [join(scope.dir, 'opencode.json'), join(scope.dir, 'opencode.jsonc')] : [join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'opencode', 'opencode.json')];
  for (const c of configs) {
    const text = await readText(c).catch(() => undefined);
    if (text !== undefined && /"snapshot"\s*:\s*false/.test(text)) return [];
  }
  return [`OpenCode still takes its own snapshots too; snapline records every step, so you may turn them off with "snapshot": false in ${configs[0]}`];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
