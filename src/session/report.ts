/**
 * The workload and SQL queries of the user report that started snapline (OpenCode issue 17226,
 * docs/report.md): used by `snapline demo`, the tests and the benchmark.
 */
import { closeSync, mkdirSync, openSync, writeSync, appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The report's generated files, relative to the workspace. */
export const REPORT_FILES = { big1: 'build/CMakeFiles/CMakeConfigureLog.yaml', big2: 'build/build.ninja', small: 'build/.ninja_log', main: 'src/main.txt' } as const;

/**
 * Writes exactly `bytes` bytes of deterministic ASCII text for `turn` to `path`, streaming in
 * 1 MiB chunks (memory stays flat whatever the size). Lines differ from turn to turn.
 */
export function writeGenerated(path: string, bytes: number, turn: number, seed: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let x = (hash(seed) ^ Math.imul(turn, 0x9e3779b1)) >>> 0;
    let line = 0;
    let written = 0;
    let fill = 0;
    const words = ['alpha', 'beta', 'gamma', 'delta', 'cmake', 'ninja', 'target', 'link', 'obj', 'src', 'flags', 'check'];
    while (written < bytes) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      const text = `turn ${turn} ${seed} line ${++line} ${words[x % 12]} ${words[(x >>> 8) % 12]} ${x.toString(16).padStart(8, '0')}\n`;
      const n = chunk.write(text, fill, 'latin1');
      fill += n;
      if (fill > chunk.length - 128 || written + fill >= bytes) {
        const take = Math.min(fill, bytes - written);
        writeSync(fd, chunk, 0, take);
        written += take;
        fill = 0;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface ReportSizes {
  big1Bytes: number;
  big2Bytes: number;
  smallBytes: number;
}

/** One turn of the report's workload in `root`: rewrite the three generated files, append to src/main.txt. */
export function reportTurn(root: string, turn: number, sizes: ReportSizes): void {
  writeGenerated(join(root, REPORT_FILES.big1), sizes.big1Bytes, turn, 'configure');
  writeGenerated(join(root, REPORT_FILES.big2), sizes.big2Bytes, turn, 'ninja');
  writeGenerated(join(root, REPORT_FILES.small), sizes.smallBytes, turn, 'log');
  mkdirSync(dirname(join(root, REPORT_FILES.main)), { recursive: true });
  appendFileSync(join(root, REPORT_FILES.main), `turn ${turn}\n`);
}

/** The report's prompt for a turn (what its agent was asked to do). */
export function reportPrompt(turn: number, sizes: ReportSizes): string {
  return `Rewrite build/CMakeFiles/CMakeConfigureLog.yaml (${sizes.big1Bytes} bytes), build/build.ninja (${sizes.big2Bytes} bytes) and build/.ninja_log (${sizes.smallBytes} bytes) with deterministic text for turn ${turn}; append one line mentioning turn ${turn} to src/main.txt.`;
}

/** The report's SQL queries, verbatim; `$SESSION_ID` is replaced by the session id. */
export const REPORT_QUERIES: readonly { title: string; sql: string }[] = [
  {
    title: 'current session totals',
    sql: `
SELECT
  (SELECT SUM(length(data)) FROM message WHERE session_id = '$SESSION_ID') AS message_bytes,
  (SELECT SUM(length(data)) FROM part WHERE session_id = '$SESSION_ID') AS part_bytes,
  (SELECT COUNT(*) FROM message WHERE session_id = '$SESSION_ID') AS message_count,
  (SELECT COUNT(*) FROM part WHERE session_id = '$SESSION_ID') AS part_count;
`,
  },
  {
    title: 'largest message rows',
    sql: `
SELECT id, json_extract(data, '$.role') AS role, length(data) AS bytes
FROM message
WHERE session_id = '$SESSION_ID'
ORDER BY bytes DESC
LIMIT 10;
`,
  },
  {
    title: 'largest user messages',
    sql: `
SELECT id, length(data) AS bytes, json_array_length(json_extract(data, '$.summary.diffs')) AS diff_count
FROM message
WHERE session_id = '$SESSION_ID' AND json_extract(data, '$.role') = 'user'
ORDER BY bytes DESC
LIMIT 10;
`,
  },
  {
    title: 'all user diff payload bytes',
    sql: `
WITH user_messages AS (
  SELECT id, data
  FROM message
  WHERE session_id = '$SESSION_ID' AND json_extract(data, '$.role') = 'user'
), sized AS (
  SELECT
    id,
    length(data) AS message_bytes,
    json_array_length(json_extract(data, '$.summary.diffs')) AS diff_count,
    (
      SELECT SUM(length(COALESCE(json_extract(value, '$.before'), '')) + length(COALESCE(json_extract(value, '$.after'), '')))
      FROM json_each(json_extract(user_messages.data, '$.summary.diffs'))
    ) AS diff_body_bytes
  FROM user_messages
)
SELECT *
FROM sized
ORDER BY message_bytes DESC;
`,
  },
  {
    title: 'diff payload inside largest user message',
    sql: `
WITH biggest AS (
  SELECT id, data
  FROM message
  WHERE session_id = '$SESSION_ID' AND json_extract(data, '$.role') = 'user'
  ORDER BY length(data) DESC
  LIMIT 1
)
SELECT
  id,
  length(data) AS bytes,
  json_array_length(json_extract(data, '$.summary.diffs')) AS diff_count,
  (
    SELECT SUM(length(COALESCE(json_extract(value, '$.before'), '')) + length(COALESCE(json_extract(value, '$.after'), '')))
    FROM json_each(json_extract(biggest.data, '$.summary.diffs'))
  ) AS diff_body_bytes
FROM biggest;
`,
  },
  {
    title: 'per-file diff sizes from largest user message',
    sql: `
WITH biggest AS (
  SELECT data
  FROM message
  WHERE session_id = '$SESSION_ID' AND json_extract(data, '$.role') = 'user'
  ORDER BY length(data) DESC
  LIMIT 1
), diffs AS (
  SELECT
    json_extract(value, '$.file') AS file,
    length(COALESCE(json_extract(value, '$.before'), '')) + length(COALESCE(json_extract(value, '$.after'), '')) AS total_bytes
  FROM biggest, json_each(json_extract(biggest.data, '$.summary.diffs'))
)
SELECT file, total_bytes
FROM diffs
ORDER BY total_bytes DESC;
`,
  },
];

/** A report query with the session id put in (ids are checked to be plain, so no quoting issue). */
export function reportQuery(sql: string, sessionId: string): string {
  if (!/^ses_[0-9A-Za-z]+$/.test(sessionId)) throw new Error(`not a session id: ${sessionId}`);
  return sql.replaceAll('$SESSION_ID', sessionId);
}
