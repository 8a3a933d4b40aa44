/**
 * glibc's malloc, set for snapline's Node processes (docs/diff.md, "glibc's malloc").
 *
 * Reading a big blob, Node allocates a fresh 256 KiB buffer for every step of inflate, and the
 * garbage collector frees them in batches. With glibc's defaults each one is a new mapping (or
 * heap the allocator hands back to the kernel when freed), so every page of every buffer is
 * faulted in anew. Here malloc keeps buffers under 1 MiB in its heap, keeps up to 32 MiB freed
 * for reuse, and uses one arena for all threads (the thread pool's inflate frees into the same
 * heap the main thread allocates from). glibc reads GLIBC_TUNABLES only when a process starts,
 * so the `snapline` command (bin/snapline) and the background processes set it before Node
 * starts; elsewhere (musl, macOS) it means nothing.
 *
 * The user's own GLIBC_TUNABLES comes after ours (the later setting wins) and is handed over in
 * SNAPLINE_GLIBC_TUNABLES: "=VALUE" when it was set, empty when not. `restoreTunables` puts it
 * back, so git, agents and the pager get the environment as the user gave it.
 */

/** The same string is in bin/snapline (test: bin). */
export const MALLOC_TUNABLES = 'glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=33554432';

/** `env` for a snapline Node process about to be started: our malloc settings, the user's after them. */
export function withMallocTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const theirs = env.GLIBC_TUNABLES;
  return {
    ...env,
    GLIBC_TUNABLES: theirs === undefined ? MALLOC_TUNABLES : `${MALLOC_TUNABLES}:${theirs}`,
    SNAPLINE_GLIBC_TUNABLES: theirs === undefined ? '' : `=${theirs}`,
  };
}

/** In a process started with `withMallocTunables` (or by bin/snapline): the user's GLIBC_TUNABLES back, as it was. */
export function restoreTunables(env: NodeJS.ProcessEnv = process.env): void {
  const handedOver = env.SNAPLINE_GLIBC_TUNABLES;
  if (handedOver === undefined) return;
  if (handedOver.startsWith('=')) env.GLIBC_TUNABLES = handedOver.slice(1);
  else delete env.GLIBC_TUNABLES;
  delete env.SNAPLINE_GLIBC_TUNABLES;
}
