/**
 * One writer of the team benchmark (a machine of its own): `TURNS` turns of `echo N >> a.txt`
 * recorded into one session of the workspace `dir`, through the library on one connection.
 * Usage: node team-writer.js DIR NAME TURNS (the database from SNAPLINE_DATABASE_URL).
 */
import { openDatabase, runTurn } from '../src/index.js';

const [dir, name, turns] = process.argv.slice(2) as [string, string, string];
const db = openDatabase();
try {
  let sessionId: string | undefined;
  for (let t = 1; t <= Number(turns); t++) {
    const r = await runTurn({ db, directory: dir, sessionId, message: `${name} turn ${t}`, exec: `echo ${name}-${t} >> a.txt` });
    sessionId = r.sessionID;
  }
} finally {
  db.close();
}
