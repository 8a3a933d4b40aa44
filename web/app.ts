/**
 * The review page: sessions, a session's turns with +/- bars, a turn's files, its diff (unified or
 * split, syntax coloured by diff2html), revert with a preview and unrevert, live over /event.
 * Big patches arrive a page at a time ("load more"), so the tab never renders a huge diff at once.
 */
import { Diff2HtmlUI } from 'diff2html/lib-esm/ui/js/diff2html-ui-slim.js';

interface FileDiff { file: string; status: string; additions: number; deletions: number; binary?: boolean }
interface Session { id: string; title: string; directory: string; time: { updated: number }; summary: { additions: number; deletions: number; files: number }; revert?: { messageID: string } }
interface Message { info: { id: string; role: string; agent?: string; time: { created: number }; summary?: { diffs: FileDiff[]; total?: { files: number; additions: number; deletions: number } } }; parts: { type: string; text?: string }[] }

const token = document.querySelector<HTMLMetaElement>('meta[name="snapline-token"]')!.content;
const $ = (sel: string) => document.querySelector<HTMLElement>(sel)!;
/** Patch bytes shown at once per file: diff2html renders about this much without stalling the tab. */
const INLINE_BYTES = 8 * 1024;
const PAGE_BYTES = 16 * 1024;

const state: {
  sessions: Session[];
  session?: Session;
  messages: Message[];
  turn?: string;
  layout: 'line-by-line' | 'side-by-side';
  /** A revert or unrevert this page asked for and the server has not finished. */
  pending?: string;
} = { sessions: [], messages: [], layout: 'line-by-line' };
/** Renders only the latest openSession: an older request answered late must not undo a newer one. */
let openSeq = 0;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.method && init.method !== 'GET') headers['x-snapline-token'] = token;
  const r = await fetch(path, { ...init, headers });
  return { status: r.status, body: (await r.json()) as T };
}

function bar(add: number, del: number): HTMLElement {
  const total = add + del || 1;
  const b = el('span', { class: 'bar', title: `+${add} −${del}` });
  b.append(el('i', { class: 'a', style: `width:${(100 * add) / total}%` }), el('i', { class: 'd', style: `width:${(100 * del) / total}%` }));
  return b;
}

const counts = (add: number, del: number) => el('span', {}, el('span', { class: 'add' }, `+${add}`), ' ', el('span', { class: 'del' }, `−${del}`), bar(add, del));
const when = (ms: number) => new Date(ms).toLocaleString();

async function loadSessions(): Promise<void> {
  state.sessions = (await api<Session[]>('/session?limit=200')).body;
  const nav = $('#sessions');
  nav.replaceChildren(
    ...state.sessions.map((s) => {
      const b = el('button', { 'data-session': s.id, class: s.id === state.session?.id ? 'sel' : '' }, el('div', { class: 'title' }, s.title), el('div', { class: 'meta' }, s.directory), el('div', { class: 'meta' }, when(s.time.updated), ' ', counts(s.summary.additions, s.summary.deletions), s.revert ? ' reverted' : ''));
      b.onclick = () => void openSession(s.id);
      return b;
    }),
  );
}

async function openSession(id: string, keepTurn = false): Promise<void> {
  const seq = ++openSeq;
  const [s, m] = await Promise.all([api<Session>(`/session/${id}`), api<Message[]>(`/session/${id}/message?limit=1000`)]);
  if (seq !== openSeq) return;
  state.session = s.body;
  state.messages = m.body;
  if (!keepTurn) state.turn = undefined;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('sel', b.getAttribute('data-session') === id);
  renderSession();
  if (state.turn) void openTurn(state.turn);
}

function turnsOf(): Message[] {
  return state.messages.filter((m) => m.info.role === 'user');
}

function renderSession(): void {
  const s = state.session!;
  const turns = el('div', { class: 'turns', 'aria-label': 'turns' });
  for (const [i, t] of turnsOf().entries()) {
    const total = t.info.summary?.total ?? { files: t.info.summary?.diffs.length ?? 0, additions: 0, deletions: 0 };
    const prompt = t.parts.find((p) => p.type === 'text')?.text ?? '';
    const reverted = s.revert && t.info.id >= s.revert.messageID;
    const b = el('button', { class: `turn${t.info.id === state.turn ? ' sel' : ''}`, 'data-turn': t.info.id }, el('div', { class: 'title' }, `${i + 1}. ${prompt.slice(0, 80)}`), el('div', { class: 'meta' }, `${total.files} file${total.files === 1 ? '' : 's'} `, counts(total.additions, total.deletions), reverted ? ' (reverted)' : ''));
    b.onclick = () => void openTurn(t.info.id);
    turns.append(b);
  }
  const head = el('div', {}, el('h2', {}, s.title), el('div', { class: 'meta' }, `${s.directory} · ${s.id} · `, counts(s.summary.additions, s.summary.deletions)));
  head.append(revertState(s));
  $('#session').replaceChildren(head, el('div', { class: 'cols' }, turns, el('div', { id: 'turn' }, el('p', { class: 'hint' }, 'Pick a turn.'))));
}

/** The session's revert banner: reverted (with Unrevert), a revert under way, or nothing. */
function revertState(s: Session): HTMLElement {
  if (state.pending) {
    // The server records a revert before it writes the files (so a killed revert can be undone):
    // until it answers, the session is neither reverted nor not, and offers nothing to click.
    return el('div', { class: 'banner', id: 'revert-state', 'data-pending': state.pending }, `${state.pending}…`);
  }
  if (!s.revert) return el('div', { id: 'revert-state' });
  const un = el('button', { id: 'unrevert' }, 'Unrevert');
  un.onclick = () => void unrevert();
  return el('div', { class: 'banner', id: 'revert-state' }, `Reverted to before turn ${s.revert.messageID}. `, un);
}

/** Line numbers where a page of a hunk stopped, so the next page gets a hunk header of its own. */
function hunkPosition(patch: string, start: { old: number; new: number }): { old: number; new: number } {
  let { old, new: neu } = start;
  for (const line of patch.split('\n')) {
    const h = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (h) {
      old = Number(h[1]);
      neu = Number(h[2]);
    } else if (line.startsWith(' ')) (old++, neu++);
    else if (line.startsWith('-') && !line.startsWith('---')) old++;
    else if (line.startsWith('+') && !line.startsWith('+++')) neu++;
  }
  return { old, new: neu };
}

/** A continuation page as a diff of its own: file header, and a hunk header if it starts mid-hunk. */
function continuation(file: string, page: string, at: { old: number; new: number }): string {
  const head = `--- a/${file}\n+++ b/${file}\n`;
  if (page.startsWith('@@')) return head + page;
  const lines = page.split('\n');
  let o = 0;
  let n = 0;
  for (const l of lines) {
    if (l.startsWith('@@')) break;
    if (l.startsWith(' ')) (o++, n++);
    else if (l.startsWith('-')) o++;
    else if (l.startsWith('+')) n++;
  }
  return `${head}@@ -${at.old},${o} +${at.new},${n} @@ (continued)\n${page}`;
}

function draw(target: HTMLElement, patch: string): void {
  const t0 = performance.now();
  const ui = new Diff2HtmlUI(target, patch, { outputFormat: state.layout, drawFileList: false, matching: 'none', highlight: patch.length <= PAGE_BYTES + 4096, synchronisedScroll: true });
  ui.draw();
  ui.highlightCode();
  // Read by the tests and the benchmark: the slowest render so far.
  document.body.dataset.drawMs = String(Math.max(Number(document.body.dataset.drawMs ?? 0), Math.round(performance.now() - t0)));
}

/** Bumped when another turn (or layout) is opened: patches still loading for the old one stop. */
let turnLoad = 0;

async function openTurn(id: string): Promise<void> {
  const load = ++turnLoad;
  state.turn = id;
  for (const b of document.querySelectorAll('.turn')) b.classList.toggle('sel', b.getAttribute('data-turn') === id);
  const sid = state.session!.id;
  const box = $('#turn');
  box.replaceChildren(el('p', { class: 'hint' }, 'Loading…'));
  // The files and their counts first (stored with the turn: no diff is computed for them).
  const r = await api<FileDiff[]>(`/session/${sid}/diff?messageID=${id}&patch=false`);
  if (load !== turnLoad) return;
  if (r.status !== 200) return void box.replaceChildren(el('p', { class: 'refusal' }, (r.body as unknown as { data: { message: string } }).data.message));
  const files = r.body;
  const unified = el('button', { id: 'unified', class: state.layout === 'line-by-line' ? 'on' : '' }, 'Unified');
  const split = el('button', { id: 'split', class: state.layout === 'side-by-side' ? 'on' : '' }, 'Split');
  unified.onclick = () => ((state.layout = 'line-by-line'), void openTurn(id));
  split.onclick = () => ((state.layout = 'side-by-side'), void openTurn(id));
  const revert = el('button', { id: 'revert' }, 'Revert to before this turn…');
  revert.onclick = () => void previewRevert(id);
  const list = el('ul', { class: 'files', 'aria-label': 'files' }, ...files.map((f) => el('li', { 'data-file': f.file }, `${f.status.padEnd(8, ' ')} `, f.binary ? 'binary ' : counts(f.additions, f.deletions), ` ${f.file}`)));
  const diffs = el('div', { id: 'diffs' });
  const parts = files.map((f) => el('div', { class: 'file-diff', 'data-file': f.file }, el('p', { class: 'hint' }, `${f.file}: loading…`)));
  diffs.append(...parts);
  box.replaceChildren(el('div', { class: 'toolbar' }, unified, split, revert), list, diffs);
  // Then each file's first page, one request at a time, smallest change first: a big rewrite
  // (whose first page waits for the whole comparison) holds up no other file.
  const order = files.map((f, i) => ({ f, i })).sort((x, y) => x.f.additions + x.f.deletions - (y.f.additions + y.f.deletions) || x.i - y.i);
  for (const { f, i } of order) {
    const p = await api<{ patch: string; next: string | null; data?: { message: string } }>(`/session/${sid}/diff/patch?messageID=${id}&file=${encodeURIComponent(f.file)}&maxBytes=${INLINE_BYTES}`);
    if (load !== turnLoad) return;
    const part = parts[i]!;
    if (p.status !== 200) {
      part.replaceChildren(el('p', { class: 'refusal' }, `${f.file}: ${p.body.data?.message ?? `failed (${p.status})`}`));
      continue;
    }
    part.replaceChildren();
    if (p.body.patch) draw(part, p.body.patch);
    if (p.body.next) addLoadMore(diffs, part, sid, id, f.file, p.body.next, hunkPosition(p.body.patch, { old: 1, new: 1 }));
  }
  diffs.dataset.loaded = 'true';
}

function addLoadMore(diffs: HTMLElement, after: HTMLElement, sid: string, turn: string, file: string, cursor: string, at: { old: number; new: number }): void {
  const more = el('button', { class: 'more', 'data-more': file }, `Load more of ${file}`);
  after.after(more);
  more.onclick = async () => {
    more.disabled = true;
    const r = await api<{ patch: string; next: string | null }>(`/session/${sid}/diff/patch?messageID=${turn}&file=${encodeURIComponent(file)}&cursor=${cursor}&maxBytes=${PAGE_BYTES}`);
    const part = el('div', { class: 'file-diff', 'data-file': file });
    more.replaceWith(part);
    draw(part, continuation(file, r.body.patch, at));
    if (r.body.next) addLoadMore(diffs, part, sid, turn, file, r.body.next, hunkPosition(r.body.patch, at));
  };
}

function dialog(...content: (Node | string)[]): HTMLDialogElement {
  const d = $('#confirm') as HTMLDialogElement;
  d.replaceChildren(...content);
  if (!d.open) d.showModal();
  return d;
}

async function previewRevert(turn: string, force = false): Promise<void> {
  const sid = state.session!.id;
  const r = await api<{ written: string[]; deleted: string[]; data?: { message: string } }>(`/session/${sid}/revert`, { method: 'POST', body: JSON.stringify({ messageID: turn, dryRun: true }) });
  if (r.status !== 200) return void dialog(el('p', { class: 'refusal' }, r.body.data?.message ?? 'refused'), closeButton());
  const go = el('button', { id: 'confirm-revert' }, force ? 'Revert anyway (force)' : 'Revert');
  go.onclick = () => void doRevert(turn, force);
  dialog(
    el('h3', {}, 'Revert: files that will be written'),
    el('p', {}, `${r.body.written.length} written, ${r.body.deleted.length} deleted. Files the session never touched are not written.`),
    el('ul', { id: 'preview' }, ...r.body.written.map((p) => el('li', {}, `write  ${p}`)), ...r.body.deleted.map((p) => el('li', {}, `delete ${p}`))),
    go,
    ' ',
    closeButton(),
  );
}

/** Runs a revert or unrevert request with the session shown as busy until the server answers. */
async function busy<T>(what: string, request: () => Promise<T>): Promise<T> {
  state.pending = what;
  if (state.session) document.querySelector('#revert-state')?.replaceWith(revertState(state.session));
  try {
    return await request();
  } finally {
    // The caller reopens the session, which draws its state as the server now has it.
    state.pending = undefined;
  }
}

async function doRevert(turn: string, force: boolean): Promise<void> {
  const sid = state.session!.id;
  ($('#confirm') as HTMLDialogElement).close();
  const r = await busy('Reverting', () => api<{ name?: string; data?: { message: string; code?: string; paths?: string[] } }>(`/session/${sid}/revert`, { method: 'POST', body: JSON.stringify({ messageID: turn, ...(force ? { force: true } : {}) }) }));
  await refresh(sid);
  if (r.status === 409 && r.body.data?.code === 'workspace-edited') {
    // The refusal: files changed outside the session would be overwritten.
    const again = el('button', { id: 'force-revert' }, 'Force: keep my edits in a snapshot and revert');
    again.onclick = () => void doRevert(turn, true);
    return void dialog(el('p', { class: 'refusal' }, r.body.data.message), el('ul', {}, ...(r.body.data.paths ?? []).map((p) => el('li', {}, p))), again, ' ', closeButton());
  }
  if (r.status !== 200) dialog(el('p', { class: 'refusal' }, r.body.data?.message ?? `failed (${r.status})`), closeButton());
}

async function unrevert(): Promise<void> {
  const sid = state.session!.id;
  const r = await busy('Unreverting', () => api<{ data?: { message: string } }>(`/session/${sid}/unrevert`, { method: 'POST', body: '{}' }));
  await refresh(sid);
  if (r.status !== 200) dialog(el('p', { class: 'refusal' }, r.body.data?.message ?? `failed (${r.status})`), closeButton());
}

/** After a revert or unrevert: the session and the list as the server now has them. */
async function refresh(sid: string): Promise<void> {
  await openSession(sid, true);
  void loadSessions();
}

function closeButton(): HTMLElement {
  const b = el('button', {}, 'Close');
  b.onclick = () => ($('#confirm') as HTMLDialogElement).close();
  return b;
}

/** Live: a change of any session refreshes the list; of the open one, its turns too. */
function listen(): void {
  const source = new EventSource('/event');
  let pending: number | undefined;
  source.onopen = () => $('#live').classList.add('on');
  source.onerror = () => $('#live').classList.remove('on');
  source.onmessage = (m) => {
    const e = JSON.parse(m.data as string) as { type: string; properties: { sessionID?: string } };
    if (!['session.updated', 'session.deleted', 'message.updated', 'message.part.updated'].includes(e.type)) return;
    clearTimeout(pending);
    pending = window.setTimeout(() => {
      void loadSessions();
      if (state.session && e.properties.sessionID === state.session.id) void openSession(state.session.id, true);
    }, 200);
  };
}

void loadSessions();
listen();
