/** Two runs on one workspace serialize; different workspaces run in parallel; readers never wait long. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { concurrencyScenario } from './reliability-lib.js';

test('runs on one workspace wait for each other (bounded, with a message), other workspaces run in parallel, readers are not blocked', { timeout: 120_000 }, async () => {
  const r = await concurrencyScenario({ pairs: 2, readerBoundMs: 3000 });
  assert.deepEqual(r.failures, []);
  assert.equal(r.serialized, 2);
  assert.equal(r.timedOutCleanly, 1);
  assert.equal(r.parallel, 2);
  assert.equal(r.readers, 9);
  assert.ok(r.readerMaxMs < 3000);
});
