/** Object names as git prints them: lower-case hex, SHA-1 (40 digits) or SHA-256 (64). */

const FULL = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const ABBREVIATED = /^[0-9a-f]{4,64}$/;

/** A full object name (SHA-1 or SHA-256): commits, and the trees snapshots are. */
export function isObjectId(s: string): boolean {
  return FULL.test(s);
}

/** An object name or a unique prefix of one as a user may type it (at least 4 digits, git's minimum). */
export function isAbbreviatedId(s: string): boolean {
  return ABBREVIATED.test(s);
}
