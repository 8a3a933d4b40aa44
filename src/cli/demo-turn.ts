/**
 * One turn of the report's workload, run by `snapline demo` through `snapline run --exec`:
 * node demo-turn.js TURN BIG1_BYTES BIG2_BYTES SMALL_BYTES (in the workspace).
 */
import { reportTurn, REPORT_FILES } from '../session/report.js';

const [turn, big1, big2, small] = process.argv.slice(2).map(Number);
if (![turn, big1, big2, small].every((n) => Number.isSafeInteger(n) && n! >= 0)) {
  process.stderr.write('usage: node demo-turn.js TURN BIG1_BYTES BIG2_BYTES SMALL_BYTES\n');
  process.exit(2);
}
reportTurn(process.cwd(), turn!, { big1Bytes: big1!, big2Bytes: big2!, smallBytes: small! });
process.stdout.write(`turn ${turn}: rewrote ${REPORT_FILES.big1}, ${REPORT_FILES.big2}, ${REPORT_FILES.small}; appended to ${REPORT_FILES.main}\n`);
