/**
 * `npm run bench`: every benchmark, each printing its table with git measured in the same run.
 * Select with arguments (`npm run bench -- diff`); scale file sizes with SNAPLINE_BENCH_SCALE.
 */
const suites: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  diff: () => import('./diff.js'),
  snapshot: () => import('./snapshot.js'),
  session: () => import('./session.js'),
  agents: () => import('./agents.js'),
  serve: () => import('./serve.js'),
  team: () => import('./team.js'),
};

const wanted = process.argv.slice(2);
for (const name of wanted) if (!suites[name]) throw new Error(`unknown benchmark '${name}' (have: ${Object.keys(suites).join(', ')})`);
console.log(`snapline benchmarks — ${new Date().toISOString()} — node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
for (const [name, load] of Object.entries(suites)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await (await load()).run();
}
