/** Hostile input: every case ends in a clear one-line error or the right result, and nothing is lost. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { hostileScenario } from './reliability-lib.js';

test('hostile names, symlinks, edited rows, huge turns, special files, / and home, corrupt stores, db writes', { timeout: 240_000 }, async () => {
  const cases = await hostileScenario({ manyFiles: 5000 });
  if (process.env.SNAPLINE_TEST_LOG) for (const c of cases) console.error(`${c.ok ? 'ok ' : 'BAD'} ${c.input}: ${c.outcome}`);
  assert.deepEqual(cases.filter((c) => !c.ok).map((c) => `${c.input}: ${c.outcome}`), []);
  assert.equal(cases.reduce((s, c) => s + c.lost, 0), 0);
  assert.ok(cases.length >= 40, `${cases.length} cases`);
});
