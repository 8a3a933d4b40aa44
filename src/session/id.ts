import { randomBytes } from 'node:crypto';

/** Kinds of ids and their prefixes. */
export type IdKind = 'project' | 'session' | 'message' | 'part';
const PREFIX: Record<IdKind, string> = { project: 'prj', session: 'ses', message: 'msg', part: 'prt' };

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const COUNTER_BITS = 12n;
const TIME_BITS = 56n; // 44 bits of milliseconds (until year 2527) + 12 bits of counter
const MASK = (1n << TIME_BITS) - 1n;

let lastMs = 0;
let counter = 0;

/**
 * A new id like OpenCode's: prefix, 14 hex digits of (milliseconds << 12 | counter), then 12
 * random base62 characters. Ascending ids sort oldest-first as strings; `descending` inverts the
 * time bits so newer ids sort first (sessions). Within one process ids are strictly monotonic,
 * even when more than 4096 are made in one millisecond.
 */
export function newId(kind: IdKind, descending = kind === 'session', now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = 0;
  } else if (++counter >= 1 << Number(COUNTER_BITS)) {
    lastMs++;
    counter = 0;
  }
  let stamp = (BigInt(lastMs) << COUNTER_BITS) | BigInt(counter);
  if (descending) stamp = ~stamp & MASK;
  return `${PREFIX[kind]}_${stamp.toString(16).padStart(14, '0')}${randomBase62(12)}`;
}

/**
 * An ascending id for something that happened at `ms` (a step recorded after the fact): it
 * sorts among ids made at that time. `seq` (0–4095) orders several made for one millisecond.
 */
export function idAt(kind: Exclude<IdKind, 'session'>, ms: number, seq = 0): string {
  const stamp = (BigInt(Math.floor(ms)) << COUNTER_BITS) | BigInt(Math.min(Math.max(seq, 0), 4095));
  return `${PREFIX[kind]}_${stamp.toString(16).padStart(14, '0')}${randomBase62(12)}`;
}

/**
 * Makes the ids this process creates from now on sort after `id` (made by any machine): a
 * machine whose clock is behind the one that last wrote a session continues after it, not
 * before. Machines never share a counter; the 12 random characters (71 bits) keep ids made
 * in the same millisecond by different machines apart, and the primary key refuses a clash.
 */
export function advanceClock(id: string): void {
  const t = idTime(id);
  if (Number.isFinite(t) && t >= lastMs) {
    lastMs = t;
    counter = (1 << Number(COUNTER_BITS)) - 1; // the next id takes the following millisecond
  }
}

/** The milliseconds timestamp encoded in an id made by newId. */
export function idTime(id: string): number {
  const m = /^[a-z]{3}_([0-9a-f]{14})/.exec(id);
  if (!m) return NaN;
  let stamp = BigInt('0x' + m[1]);
  if (id.startsWith('ses_')) stamp = ~stamp & MASK;
  return Number(stamp >> COUNTER_BITS);
}

/** True when `s` looks like an id of this kind (a cheap check before a lookup). */
export function isId(kind: IdKind, s: string): boolean {
  return new RegExp(`^${PREFIX[kind]}_[0-9A-Za-z]{8,64}$`).test(s);
}

function randomBase62(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += BASE62[bytes[i]! % 62];
  return s;
}
