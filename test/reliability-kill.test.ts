/** Kill safety: SIGKILL at staggered moments, then the next command must just work. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { killScenario } from './reliability-lib.js';

test('SIGKILL of run, track, revert and gc at 24 staggered moments loses nothing and blocks nothing', { timeout: 240_000 }, async () => {
  const r = await killScenario({ seed: 5, kills: 24, files: 40, touched: 8, fileBytes: 256 << 10, log: process.env.SNAPLINE_TEST_LOG ? (l) => console.error(l) : undefined });
  assert.deepEqual(r.failures, []);
  assert.equal(r.attempted, 24);
  assert.equal(r.survived, 24);
  assert.equal(r.filesLost, 0);
  assert.equal(r.leftoversAfterGc, 0);
  for (const t of Object.values(r.byTarget)) assert.ok(t.attempted >= 5, JSON.stringify(r.byTarget));
  assert.ok(r.turns.complete > 0);
});
