/**
 * The JSON stored in `message.data` and `part.data` (OpenCode's shapes, minus the id columns),
 * and checks applied when rows are read back.
 */
import { isObjectId } from '../git/object-id.js';
import { CorruptRow } from './errors.js';

/** A blob of a snapshot: its id and size in bytes. */
export interface BlobRef {
  oid: string;
  size: number;
}

/**
 * Per-file statistics of a turn: counts and blob ids, never file bodies. OpenCode's clients
 * read `before`/`after` as file text and `patch` as a patch, so the blob ids live under
 * `blobs` and those keys stay absent (a patch is produced when a client asks for it).
 */
export interface FileDiff {
  file: string;
  status: 'added' | 'deleted' | 'modified';
  additions: number;
  deletions: number;
  binary?: true;
  approximate?: true;
  blobs?: { before?: BlobRef; after?: BlobRef };
}

/** What a turn changed: the per-file list (capped) and exact totals. */
export interface TurnSummary {
  diffs: FileDiff[];
  total: { files: number; additions: number; deletions: number };
  /** Set when `diffs` lists only the first files (the totals still count them all). */
  truncated?: true;
}

/** Zero usage: snapline sees no model calls, and OpenCode requires the fields. */
export interface Tokens {
  input: number;
  output: number;
  reasoning: number;
  cache: { read: number; write: number };
}

export const NO_TOKENS: Tokens = { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } };

/**
 * The `model` OpenCode requires on a user message (and `providerID`/`modelID` on an assistant
 * message): snapline does not see the model, so the provider is snapline and the model names
 * the agent that did the work.
 */
export function agentModel(agent: string): { providerID: string; modelID: string } {
  return { providerID: 'snapline', modelID: agent };
}

export interface UserMessageData {
  role: 'user';
  time: { created: number };
  agent: string;
  model: { providerID: string; modelID: string };
  summary?: TurnSummary;
}

export interface AssistantMessageData {
  role: 'assistant';
  parentID: string;
  time: { created: number; completed?: number };
  agent: string;
  mode: string;
  providerID: string;
  modelID: string;
  cost: number;
  tokens: Tokens;
  path: { cwd: string; root: string };
  finish?: string;
  /** Exit code of the command the turn ran. */
  exit?: number;
  /** The stop signal snapline got during the turn (the turn was still recorded; finish "interrupted"). */
  interrupted?: string;
  error?: { name: string; message: string };
}

export type MessageData = UserMessageData | AssistantMessageData;

/** A file a snapshot left out, as reported by the snapshot store. */
export interface SkippedEntry {
  path: string;
  reason: string;
  size?: number;
}

export interface ToolState {
  status: 'completed' | 'error';
  input: { command: string };
  /** The first 32 KiB of the command's output (stdout and stderr interleaved). */
  output: string;
  /** Why the command could not start (status error). */
  error?: string;
  title: string;
  metadata: { exit: number | null; outputBytes: number; truncated?: true; signal?: string; interrupted?: string };
  time: { start: number; end: number };
}

/**
 * A tool an agent ran, as its hook reported it (`turn step --tool`): the name and a bounded
 * preview of its input (string values cut, `truncated` when anything was); snapline did not see
 * its output, so none is stored.
 */
export interface AgentToolState {
  status: 'completed';
  input: Record<string, string>;
  output: '';
  title: string;
  metadata: { agent: true; truncated?: true };
  time: { start: number; end: number };
}

export type PartData =
  | { type: 'text'; text: string; time?: { start: number; end: number }; truncated?: true; bytes?: number; captured?: false; interrupted?: string }
  | { type: 'step-start'; snapshot?: string; skipped?: SkippedEntry[] }
  | {
      type: 'step-finish';
      reason: string;
      snapshot?: string;
      skipped?: SkippedEntry[];
      cost: number;
      tokens: Tokens;
      /** Taken when an interrupted turn was found (at `recoveredAt`), not when its work ended. */
      recovered?: true;
      recoveredAt?: number;
    }
  | { type: 'patch'; hash: string; files: string[]; total?: number; truncated?: true }
  | { type: 'tool'; callID: string; tool: 'bash'; state: ToolState }
  | { type: 'tool'; callID: string; tool: string; state: AgentToolState };

const ROLES = new Set(['user', 'assistant']);
const PART_TYPES = new Set(['text', 'step-start', 'step-finish', 'patch', 'tool', 'reasoning', 'file', 'agent', 'subtask', 'snapshot', 'retry', 'compaction']);

function parseObject(table: string, id: string, text: unknown): Record<string, unknown> {
  if (typeof text !== 'string') throw new CorruptRow(table, id, 'data is not text');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CorruptRow(table, id, 'data is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CorruptRow(table, id, 'data is not a JSON object');
  return v as Record<string, unknown>;
}

/** Parses and checks a message row's `data`. */
export function parseMessageData(id: string, text: unknown): MessageData {
  const v = parseObject('message', id, text);
  if (typeof v.role !== 'string' || !ROLES.has(v.role)) throw new CorruptRow('message', id, `unknown role ${JSON.stringify(v.role)}`);
  if (typeof v.time !== 'object' || v.time === null) throw new CorruptRow('message', id, 'no time');
  if (v.role === 'assistant' && typeof v.parentID !== 'string') throw new CorruptRow('message', id, 'assistant message without parentID');
  if (v.summary !== undefined) {
    const s = v.summary as Partial<TurnSummary> | null;
    if (typeof s !== 'object' || s === null || !Array.isArray(s.diffs)) throw new CorruptRow('message', id, 'summary without diffs');
  }
  return v as unknown as MessageData;
}

/** Parses and checks a part row's `data`. */
export function parsePartData(id: string, text: unknown): PartData {
  const v = parseObject('part', id, text);
  if (typeof v.type !== 'string' || !PART_TYPES.has(v.type)) throw new CorruptRow('part', id, `unknown type ${JSON.stringify(v.type)}`);
  // OpenCode leaves the snapshot out when snapshots are off (imported sessions); a present one is a tree id.
  if ((v.type === 'step-start' || v.type === 'step-finish') && v.snapshot !== undefined && (typeof v.snapshot !== 'string' || !isObjectId(v.snapshot))) {
    throw new CorruptRow('part', id, `${v.type} with a bad snapshot id`);
  }
  return v as unknown as PartData;
}

/**
 * The session row's `revert` JSON: what unrevert needs. `messageID` and `snapshot` mean what
 * they mean in OpenCode's; the count is `paths` (OpenCode's `files` is a list of diffs).
 */
export interface RevertState {
  /** First reverted turn (a user message id). */
  messageID: string;
  /** Snapshot of the workspace taken just before the revert (retained). */
  snapshot: string;
  /** How many paths the revert covered. */
  paths: number;
  time: number;
}

export function parseRevert(id: string, text: unknown): RevertState | undefined {
  if (text === null || text === undefined) return undefined;
  const v = parseObject('session', id, text);
  if (typeof v.messageID !== 'string' || typeof v.snapshot !== 'string') throw new CorruptRow('session', id, 'revert without messageID/snapshot');
  return v as unknown as RevertState;
}
