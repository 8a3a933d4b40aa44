/** Disk: gc keeps every session's snapshots, --force releases idle sessions, the store ends inside its bound. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { diskScenario } from './reliability-lib.js';

test('20 turns of the report workload (small files): gc prunes only unkept snapshots; gc --force fits the bound, live session intact', { timeout: 180_000 }, async () => {
  const r = await diskScenario({ turns: 20, big1Bytes: 1 << 20, big2Bytes: 768 << 10, smallBytes: 64 << 10, log: process.env.SNAPLINE_TEST_LOG ? (l) => console.error(l) : undefined });
  assert.deepEqual(r.failures, []);
  assert.equal(r.sessions.length, 2);
  assert.ok(r.afterGc < r.before, `gc pruned nothing: ${r.before} -> ${r.afterGc}`);
  assert.ok(r.afterForce <= r.bound, `${r.afterForce} > ${r.bound}`);
  assert.ok(r.before > r.bound, 'the scenario must start over the bound');
});
