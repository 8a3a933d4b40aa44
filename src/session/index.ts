/** Sessions: turns recorded in SQLite (OpenCode's layout), summarised in bounded memory, browsed, reverted. */
export { openDatabase, isDatabaseError, SCHEMA_VERSION, type Database, type OpenOptions } from './db.js';
export { PostgresUnavailable, redactUrl } from './postgres.js';
export { newId, idTime, isId, type IdKind } from './id.js';
export * from './errors.js';
export { parseMessageData, parsePartData, agentModel } from './model.js';
export type { FileDiff, TurnSummary, MessageData, UserMessageData, AssistantMessageData, PartData, ToolState, AgentToolState, SkippedEntry, RevertState } from './model.js';
export {
  ensureProject,
  createSession,
  getSession,
  listSessions,
  latestSession,
  countSessions,
  listMessages,
  countMessages,
  getMessage,
  listParts,
  listTurns,
  findAgentSession,
  deleteSessionRows,
  type SessionInfo,
  type MessageInfo,
  type PartInfo,
  type Turn,
} from './store.js';
export { summarize, MAX_DIFF_ENTRIES, MAX_DIFF_BYTES } from './summary.js';
export { settleSummaries, openSettledDatabase, hasPendingSummaries, hasPendingWork, deferringSummaries, type PendingSummary, type SettleOptions, type SettledSummary } from './pending.js';
export { runTurn, describeSkip, type TurnOptions, type TurnResult, type TurnEvent } from './turn.js';
export { beginTurn, stepTurn, endTurn, closeLeftOpenTurns, LEFT_OPEN, type TurnTarget, type TurnCallOptions, type BeginOptions, type BeginResult, type StepOptions, type StepResult, type EndOptions, type EndResult } from './turn-api.js';
export { revertSession, unrevertSession, deleteSession, type RevertResult, type UndoResult, type UndoOptions } from './revert.js';
export { recoverInterruptedTurn, type RecoveredTurn } from './recover.js';
export { showSession, diffRange, describePart, summaryOf, turnsChangedPaths, type SessionView, type MessageView } from './show.js';
export { doctorWithSessions, type SessionDoctorReport, type AffectedSession } from './doctor.js';
export { resolveSessionRef, resolveMessageRef, latestSessionHere, turnNumbers } from './resolve.js';
export { sessionWorkspace, sessionSnapshots, requireSnapshots } from './workspace.js';
export { runQuery, jsonValue, type QueryResult } from './query.js';
export { splitCommand, PREVIEW_BYTES } from './exec.js';
export { exportSessionJson, openCodeSession, openCodeMessage, openCodePart, withParts, type OpenCodeSession, type OpenCodeMessage, type OpenCodePart, type OpenCodeMessageWithParts } from './opencode.js';
export { importOpenCode, defaultOpenCodeDatabase, OpenCodeDatabaseUnreadable, UnknownOpenCodeSession, MAX_IMPORTED_PART_BYTES, type ImportResult, type ImportedSession } from './import.js';
export { PatchCache, PageSourceLost, PAGE_SLACK, type PatchCacheOptions, type PageSource, type PatchPage } from './patch-cache.js';
export { messagePage, reviewDiff, patchPage, INLINE_PATCH_BYTES, IN_PROCESS_PAIR_BYTES, type MessagePage, type ReviewFileDiff, type DiffOptions } from './review.js';
