/** snapline export against the real OpenCode: `opencode import` accepts it and `opencode export` gives it back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessionFixture, sessionOf } from './session-helpers.js';
import { openCodeHome } from './helpers/opencode.js';

type Json = Record<string, unknown>;
interface ExportDoc {
  info: Json;
  messages: { info: Json; parts: Json[] }[];
}

/** `ours` restricted to the keys OpenCode kept (it drops keys its schema does not know). */
function keptBy(theirs: unknown, ours: unknown): unknown {
  if (typeof theirs !== 'object' || theirs === null || typeof ours !== 'object' || ours === null) return ours;
  if (Array.isArray(theirs)) return Array.isArray(ours) ? ours.map((o, i) => keptBy(theirs[i], o)) : ours;
  const out: Json = {};
  for (const k of Object.keys(theirs)) out[k] = keptBy((theirs as Json)[k], (ours as Json)[k]);
  return out;
}

test('a snapline export is accepted by opencode import and comes back from opencode export with the same messages and parts', () => {
  const f = sessionFixture();
  const tmp = mkdtempSync(join(tmpdir(), 'snapline-ocx-'));
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'one\n');
    f.git('add', '.');
    f.git('commit', '-qm', 'a');
    const sid = sessionOf(f.ok('run', '--format', 'json', '--exec', 'echo two >> a.txt; echo new > b.txt', 'first turn'));
    assert.equal(f.cli('run', '--session', sid, '--exec', 'rm b.txt; printf "c\\n" > c.txt; exit 3', 'second turn').status, 3);
    const file = join(tmp, 'export.json');
    assert.equal(f.ok('export', sid, '--output', file), '');
    const ours = JSON.parse(readFileSync(file, 'utf8')) as ExportDoc;
    assert.equal(ours.info.id, sid);
    assert.equal(ours.messages.length, 4);
    assert.equal(JSON.stringify(JSON.parse(f.ok('export', sid))), JSON.stringify(ours), 'stdout and --output agree');

    const oc = openCodeHome(join(tmp, 'opencode'));
    assert.match(oc.run(f.dir, 'import', file), new RegExp(`Imported session: ${sid}`));
    const back = JSON.parse(oc.run(f.dir, 'export', sid).replace(/^[^{]*/, '')) as ExportDoc;

    assert.equal(back.info.id, sid);
    assert.equal(back.info.title, ours.info.title);
    assert.deepEqual(back.info.summary, ours.info.summary);
    assert.deepEqual(
      back.messages.map((m) => [m.info.id, m.parts.map((p) => p.id)]),
      ours.messages.map((m) => [m.info.id, m.parts.map((p) => p.id)]),
      'same messages and parts, in the same order',
    );
    for (const [i, m] of back.messages.entries()) {
      const o = ours.messages[i]!;
      assert.deepEqual(m.info, keptBy(m.info, o.info), `message ${m.info.id}`);
      for (const [j, p] of m.parts.entries()) assert.deepEqual(p, keptBy(p, o.parts[j]), `part ${p.id}`);
    }
    // What a user reads survived: prompts, commands, snapshots, per-file counts, required fields.
    const parts = back.messages.flatMap((m) => m.parts);
    assert.deepEqual(parts.filter((p) => p.type === 'text').map((p) => p.text), ['first turn', 'second turn']);
    assert.deepEqual(parts.filter((p) => p.type === 'tool').map((p) => (p.state as { input: { command: string } }).input.command), ['echo two >> a.txt; echo new > b.txt', 'rm b.txt; printf "c\\n" > c.txt; exit 3']);
    assert.equal(parts.filter((p) => p.type === 'step-finish').length, 2);
    const second = back.messages[2]!.info as { summary: { diffs: Json[] } };
    assert.deepEqual(second.summary.diffs.map((d) => [d.file, d.status, d.additions, d.deletions]), [['b.txt', 'deleted', 0, 1], ['c.txt', 'added', 1, 0]]);
    assert.equal(back.messages[1]!.info.providerID, 'snapline');
  } finally {
    f.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('export of an unknown session fails with one line and writes no file', () => {
  const f = sessionFixture();
  const tmp = mkdtempSync(join(tmpdir(), 'snapline-ocx-'));
  try {
    f.ok('run', '--exec', 'true', 'x');
    const r = f.cli('export', 'ses_nope', '--output', join(tmp, 'out.json'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /^snapline: no session 'ses_nope'/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.throws(() => readFileSync(join(tmp, 'out.json')));
  } finally {
    f.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
});
