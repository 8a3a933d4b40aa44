/**
 * `npm run torture`: the reliability checks of test/reliability*.test.ts at full strength —
 * 60 SIGKILLs, concurrent runs, hostile input (a 100,000-file turn), and the report's workload
 * at full size over 20 turns against a disk bound — printed as one table. Exits 1 if any check fails.
 * SNAPLINE_TORTURE_SCALE=0.1 shrinks the counts and file sizes for a quick run.
 */
import { concurrencyScenario, diskScenario, hostileScenario, killScenario } from '../test/reliability-lib.js';

const scale = Number(process.env.SNAPLINE_TORTURE_SCALE ?? '1');
const n = (full: number, min: number) => Math.max(min, Math.round(full * scale));
const log = (line: string) => process.stderr.write(`  ${line}\n`);
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const started = Date.now();
const lap = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;

process.stderr.write('kill safety…\n');
const kills = await killScenario({ seed: 17, kills: n(60, 8), files: n(200, 20), touched: n(20, 4), fileBytes: n(256 << 10, 4096), log });
process.stderr.write(`concurrency… (${lap()})\n`);
const conc = await concurrencyScenario({ pairs: n(4, 1), readerBoundMs: 3000 });
process.stderr.write(`hostile input… (${lap()})\n`);
const hostile = await hostileScenario({ manyFiles: n(100_000, 2000) });
process.stderr.write(`disk… (${lap()})\n`);
const disk = await diskScenario({ turns: 20, big1Bytes: n(128 << 20, 1 << 20), big2Bytes: n(96 << 20, 768 << 10), smallBytes: n(512 << 10, 64 << 10), log });

const hostileOk = hostile.filter((c) => c.ok).length;
const lost = kills.filesLost + hostile.reduce((s, c) => s + c.lost, 0);
const by = Object.entries(kills.byTarget).map(([k, v]) => `${k} ${v.survived}/${v.attempted}`).join(', ');
const rows: [string, string][] = [
  ['kills survived / attempted', `${kills.survived} / ${kills.attempted} (${by}; seed 17, ${kills.missed} kill(s) arrived after the command had finished and are not counted)`],
  ['next command after each kill', `${kills.nextCommands} run, all kinds in turn, no cleanup: ${kills.failures.some((f) => f.includes('next command')) ? 'SOME FAILED' : 'all succeeded'}`],
  ['turns after the kills', `${kills.turns.complete} complete, ${kills.turns.interrupted} marked interrupted, 0 half-recorded${kills.failures.some((f) => f.includes('half-recorded')) ? ' (FAILED)' : ''}; integrity_check ok${kills.failures.some((f) => f.includes('integrity')) ? ' (FAILED)' : ''}`],
  ['temporary files and locks after gc', String(kills.leftoversAfterGc)],
  ['concurrent runs', `${conc.runs} runs: ${conc.serialized}/${n(4, 1)} same-workspace pairs serialized (second waited, with a message), ${conc.timedOutCleanly}/1 timed out cleanly, ${conc.parallel}/${n(4, 1)} different-workspace pairs overlapped`],
  ['readers during writers', `${conc.readers} session show / db / session list calls, slowest ${conc.readerMaxMs} ms`],
  ['hostile inputs', `${hostile.length} tried: ${hostileOk} right result or clear one-line error${hostileOk < hostile.length ? `, ${hostile.length - hostileOk} WRONG` : ''}`],
  ['files lost', String(lost)],
  ['disk (20 turns, report workload)', `before gc ${mib(disk.before)}; after gc ${mib(disk.afterGc)} (every session snapshot kept); after gc --force ${mib(disk.afterForce)} (idle session released); bound ${mib(disk.bound)}`],
];
const w = Math.max(...rows.map((r) => r[0].length));
let out = `| ${'check'.padEnd(w)} | result |\n|${'-'.repeat(w + 2)}|--------|\n`;
for (const [k, v] of rows) out += `| ${k.padEnd(w)} | ${v} |\n`;
out += `\nHostile inputs:\n\n| input | outcome |\n|---|---|\n`;
for (const c of hostile) out += `| ${c.input.replace(/\|/g, '\\|')} | ${c.ok ? '' : 'WRONG: '}${c.outcome.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/\/tmp\/[^ ']+/g, (p) => p.replace(/snapline-[a-z-]+-[A-Za-z0-9]{6}/g, '…'))} |\n`;
process.stdout.write(out);
const failures = [...kills.failures, ...conc.failures, ...disk.failures, ...hostile.filter((c) => !c.ok).map((c) => `${c.input}: ${c.outcome}`)];
process.stdout.write(`\n${failures.length === 0 ? 'all checks passed' : `${failures.length} FAILED:\n${failures.map((f) => `  ${f}`).join('\n')}`} (${lap()})\n`);
process.exitCode = failures.length === 0 ? 0 : 1;
