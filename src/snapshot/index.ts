/** The snapshot store: one shadow git object store per workspace. */
export { track, type TrackResult, type TrackOptions, type SkippedFile, type SkipReason } from './track.js';
export { restore, type RestoreOptions, type RestoreResult } from './restore.js';
export { retain, release, gc, du, sessionsIn, SESSION_REFS, type GcOptions, type GcReport, type StoreUsage, type RetainedSession } from './retention.js';
export { doctor, MAX_DAMAGED, type DoctorReport, type DoctorOptions, type DamagedObject } from './doctor.js';
export { workspacePath } from './paths.js';
export { pushSnapshots, fetchSnapshots, ensureTrees, publishSnapshots, deleteRemoteSession, RemoteFailed, REMOTE_REFS, RELEASE_REFS, SYNC_LOG, type SyncReport, type PublishOutcome } from './remote.js';
export { storeContext, storeDir, projectId, resolveWorkspace, type StoreOptions } from './store.js';
export * from './errors.js';
