#!/bin/sh
# snapline's step hook: `sh step-hook.sh NODE MAIN hook AGENT`, the event JSON on stdin.
# (Also installed for the turn's end and the session's end: below.)
#
# A step (Claude Code or Codex PostToolUse, Gemini CLI AfterTool, OpenCode tool.execute.after)
# after a tool that changed nothing is answered here without starting Node: the snapshot
# store's own two git checks (`ls-files -o` and `diff-files` on the store's index) find nothing,
# the index is the one the open step's snapshot was read from, and the ticket's conditions
# (ignore rules, configuration) still hold. Then the event goes to a pending file that the next
# `snapline hook` (or turn begin/step/end) records, at the time it happened. The turn's end
# (Stop, AfterAgent) after such a check is answered the same way: a pending end, which a
# detached `snapline hook AGENT --pending-end SESSION` records (or, first, the next turn call or
# reader) with the open step's snapshot as the end's. Anything else —
# no ticket, a busy workspace, an event it cannot read, any change — runs `NODE MAIN hook AGENT`
# with the same event, as if this script were not there. The ticket and the pending files:
# src/session/fast-steps.ts; docs/agents.md, "The no-change step".
# For Claude Code, Codex CLI and Gemini CLI it also takes the prompt event (UserPromptSubmit,
# BeforeAgent): the begin is recorded by a detached `snapline hook AGENT --begin-from FILE` while
# the agent calls its model, and every later event of the session — first the barrier before
# each tool (PreToolUse, BeforeTool) — waits here
# until that begin is recorded, so no tool runs before the begin's snapshot (docs/agents.md,
# "The deferred begin"). And the session's start (SessionStart) starts the session's standby, a
# Node process with snapline loaded (src/agents/standby.ts) — or hands the session to the spare,
# the standby of an earlier session — which then takes what would start Node: the prompt, every
# step, an end this script cannot answer, and the recording of one it answered (docs/agents.md,
# "The standby"). A step it takes is deferred: the script returns once the standby has it, and the
# session's next events wait here until it is recorded (docs/agents.md, "The deferred step"); the
# turn's end that comes meanwhile goes behind it, for the standby, and waits for nothing
# (docs/agents.md, "The end behind the step").
# Never writes to stdout (agents read it); never waits for a lock (only for a begin or a step
# deferred, and for the standby's answer).

LC_ALL=C
export LC_ALL
# Node reads NODE_EXTRA_CA_CERTS at every start (30–40 ms for a system bundle); `snapline hook`
# makes no TLS connection and starts nothing that does (git brings its own certificates).
unset NODE_EXTRA_CA_CERTS
node=$1
main=$2
shift 2

# Before the event is saved: give Node the untouched stdin.
direct() { exec "$node" "$main" "$@"; }

# Whether process $1 runs: `kill -0` answers yes for a zombie too (dead, not yet reaped by its
# new parent, which in a container without an init can take a while), so Linux's state letter
# is checked where /proc has it.
running() {
  kill -0 "$1" 2> /dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  IFS= read -r rs_stat 2> /dev/null < "/proc/$1/stat" || return 0
  case ${rs_stat##*) } in Z* | X*) return 1 ;; esac
}

[ "$1" = hook ] && [ $# -eq 2 ] || direct "$@"
close=
end=
begin=
barrier=
start=
dir=
name=
case $2 in
  claude) step=PostToolUse end=Stop close=SessionEnd begin=UserPromptSubmit barrier=PreToolUse start=SessionStart ;;
  codex) step=PostToolUse end=Stop close=SessionEnd begin=UserPromptSubmit barrier=PreToolUse start=SessionStart ;;
  gemini) step=AfterTool end=AfterAgent close=SessionEnd begin=BeforeAgent barrier=BeforeTool start=SessionStart ;;
  opencode) step=tool.execute.after end=session.idle begin=chat.message barrier=tool.execute.before ;;
  *) direct "$@" ;;
esac
[ "${SNAPLINE_FAST_STEP-1}" != 0 ] || direct "$@"

# The checks it shares with `snapline snapshot track` (src/snapshot/no-change.sh, beside this
# file's directory in dist/src/).
. "${0%/*}/../snapshot/no-change.sh" || direct "$@"
nc_data_dir || direct "$@"
fast=$data/fast-steps
[ -d "$fast/tmp" ] || direct "$@"
tmp=$fast/tmp/$$
# dd copies the event and says how many bytes it copied (one process for both).
copied=$(dd of="$tmp" bs=65536 2>&1 > /dev/null) || direct "$@"

# From here on the event is in $tmp: Node reads it from there, or the session's standby does.
fallback() {
  standby
  exec < "$tmp"
  rm -f "$tmp"
  exec "$node" "$main" "$@"
}

# The session's standby (src/agents/standby.ts), if one waits, records the event instead of a
# new Node: the event goes in first, then the standby's offer is claimed by renaming it (one
# claimant wins), and its answer (a problem line, or nothing) goes to stderr. Returns (Node then
# takes the event) when there is no offer to claim, or when the standby died before it took the
# event; one that died after goes no further (what it recorded stands).
standby() {
  [ -n "$dir" ] && [ "${SNAPLINE_STANDBY-1}" != 0 ] && [ -f "$dir/standby/ready" ] || return 0
  sb=$dir/standby
  IFS= read -r sbpid 2> /dev/null < "$sb/ready" || return 0
  case $sbpid in '' | *[!0-9]*) return 0 ;; esac
  # A step of an agent with a barrier is deferred: the script returns once the standby has taken
  # it, and the standby's mark holds the session's next events (the barrier before the next tool
  # first).
  kind=event
  [ -n "$barrier" ] && [ "$name" = "$step" ] && kind=deferred
  mv -f "$tmp" "$sb/$kind.$$" 2> /dev/null || return 0
  if ! mv "$sb/ready" "$sb/claimed.$$" 2> /dev/null; then
    mv -f "$sb/$kind.$$" "$tmp" 2> /dev/null
    return 0
  fi
  while :; do
    if [ "$kind" = deferred ]; then
      [ -f "$sb/deferred.$$" ] || exit 0
    elif [ -f "$sb/done.$$" ]; then
      break
    fi
    if ! running "$sbpid"; then
      rm -f "$sb/claimed.$$"
      if mv "$sb/$kind.$$" "$tmp" 2> /dev/null; then
        rm -f "$dir/stepping.$$"
        return 0
      fi
      [ -f "$sb/done.$$" ] && break
      exit 0
    fi
    sleep 0.01 2> /dev/null || sleep 1
  done
  cat "$sb/done.$$" >&2
  rm -f "$sb/done.$$"
  exit 0
}

# One line of at most 64 KiB (every agent sends its event as one line of JSON).
size=${copied##*records out}
size=${size#"${size%%[![:space:]]*}"}
size=${size%% *}
case $size in '' | *[!0-9]*) fallback "$@" ;; esac
[ "$size" -le 65536 ] || fallback "$@"
IFS= read -r event < "$tmp"
[ "${#event}" -eq "$size" ] || [ "$((${#event} + 1))" -eq "$size" ] || fallback "$@"

# A top-level string field of the event: $1 must occur exactly once (a nested object could
# have a key of the same name) and its value be plain (letters, digits, . _ -).
field() {
  case $event in
    *"\"$1\""*"\"$1\""*) return 1 ;;
    *"\"$1\""*) ;;
    *) return 1 ;;
  esac
  rest=${event#*"\"$1\""}
  rest=${rest#"${rest%%[![:space:]]*}"}
  case $rest in :*) rest=${rest#:} ;; *) return 1 ;; esac
  rest=${rest#"${rest%%[![:space:]]*}"}
  case $rest in \"*) rest=${rest#\"} ;; *) return 1 ;; esac
  value=${rest%%\"*}
  case $value in '' | . | .. | *[!A-Za-z0-9._-]*) return 1 ;; esac
  [ "${#value}" -le 128 ]
}
field hook_event_name || fallback "$@"
name=$value
field session_id || fallback "$@"
session=$value
dir=$fast/$2/$session
ends=$fast/ends

# The turn's end event, plain: `stop_hook_active`, if there, is false exactly once (true: the
# agent goes on, and Node ignores the event).
plain_end() {
  case $event in
    *'"stop_hook_active"'*'"stop_hook_active"'*) return 1 ;;
    *'"stop_hook_active"'*)
      rest=${event#*'"stop_hook_active"'}
      rest=${rest#"${rest%%[![:space:]]*}"}
      case $rest in :*) rest=${rest#:} ;; *) return 1 ;; esac
      rest=${rest#"${rest%%[![:space:]]*}"}
      case $rest in false*) rest=${rest#false} ;; *) return 1 ;; esac
      case $rest in [,}[:space:]]*) ;; *) return 1 ;; esac
      ;;
  esac
}

# The agent's end while the standby still records the deferred step (its mark holds the
# standby's pid): no tool has run since that step's snapshot began (each waits for the mark), so
# the turn ends with that snapshot, and the end waits for nothing. It goes behind the step:
# `ends/AGENT+SESSION+behind.PID`, the standby's pid then the event, its mtime now; the standby
# records it once the step is done (src/session/fast-steps.ts, endsBehind), and the session's
# next events wait for it as for the step. The standby removes the step's mark before it looks
# for an end behind it: a mark still there after the end went in means the standby will find it;
# one gone means it may not, and the end is taken back (one rename: the standby's take is the
# same) and goes on below.
if [ -n "$barrier" ] && [ "$name" = "$end" ] && [ "${SNAPLINE_STANDBY-1}" != 0 ] && [ -d "$ends" ]; then
  for mark in "$dir"/stepping.*; do
    [ -f "$mark" ] || continue
    sbpid=
    IFS= read -r sbpid 2> /dev/null < "$mark"
    case $sbpid in '' | *[!0-9]*) continue ;; esac
    running "$sbpid" && plain_end || continue
    behind=$ends/$2+$session+behind.$$
    { printf '%s\n' "$sbpid" && cat "$tmp"; } > "$tmp.behind" 2> /dev/null && mv -f "$tmp.behind" "$behind" 2> /dev/null || { rm -f "$tmp.behind"; break; }
    if [ -f "$mark" ] || ! mv "$behind" "$tmp.behind" 2> /dev/null; then
      rm -f "$tmp"
      exit 0
    fi
    rm -f "$tmp.behind"
    break
  done
fi
# The session's end while its turn's end is behind a step: the standby records that end first,
# then goes on as the spare (the `close` mark), and the agent waits for neither.
if [ -n "$barrier" ] && [ "$name" = "$close" ]; then
  for mark in "$ends/$2+$session+"behind.* "$ends/$2+$session+"ending.*; do
    [ -f "$mark" ] || continue
    sbpid=
    IFS= read -r sbpid 2> /dev/null < "$mark"
    case $sbpid in '' | *[!0-9]*) continue ;; esac
    running "$sbpid" && : > "$dir/standby/close" 2> /dev/null || continue
    rm -f "$tmp"
    exit 0
  done
fi

# A begin deferred below, a step the standby still records or an end behind it, first: wait for
# it (the pid of the process recording it is the first line of its mark; one that is gone ends
# the wait, and so does a mark left empty, by a writer killed, for a second). An end behind a
# step is waited for under its second name too, once the standby took it. Then the barrier
# event has done its work.
for mark in "$dir/beginning" "$dir"/stepping.* "$ends/$2+$session+"behind.* "$ends/$2+$session+"ending.*; do
  empty=0
  while :; do
    if [ ! -f "$mark" ]; then
      case $mark in *+behind.*) mark=${mark%+behind.*}+ending.${mark##*+behind.}; continue ;; esac
      break
    fi
    pid=
    IFS= read -r pid 2> /dev/null < "$mark"
    case $pid in
      '' | *[!0-9]*) empty=$((empty + 1)); [ "$empty" -le 50 ] || { rm -f "$mark"; break; } ;;
      *) running "$pid" || { rm -f "$mark"; break; } ;;
    esac
    sleep 0.02 2> /dev/null || sleep 1
  done
done
if [ -n "$barrier" ] && [ "$name" = "$barrier" ]; then
  rm -f "$tmp"
  exit 0
fi

# The session starts: so does its standby, detached, unless one is alive already.
if [ -n "$start" ] && [ "$name" = "$start" ]; then
  rm -f "$tmp"
  [ "${SNAPLINE_STANDBY-1}" != 0 ] || exit 0
  sbpid=
  IFS= read -r sbpid 2> /dev/null < "$dir/standby/pid"
  case $sbpid in '' | *[!0-9]*) ;; *) ! running "$sbpid" || exit 0 ;; esac
  # A spare (the standby of an earlier session of this data directory, src/agents/standby.ts)
  # becomes this session's, loaded: the session's id, directory and environment go beside its
  # offer (readable by this user only: the environment may hold keys), and the offer is claimed.
  # It writes the pid file, or starts the standby itself.
  spare=$fast/spare/$2
  if [ -f "$spare/ready" ]; then
    if (umask 077 && { printf '%s\000%s\000' "$session" "$PWD" && env -0; } > "$spare/adopt.$$") 2> /dev/null &&
      mv "$spare/ready" "$spare/claimed.$$" 2> /dev/null; then
      exit 0
    fi
    rm -f "$spare/adopt.$$"
  fi
  mkdir -p "$dir/standby" 2> /dev/null || exit 0
  if command -v setsid > /dev/null 2>&1; then
    setsid "$node" "$main" hook "$2" --standby "$session" < /dev/null > /dev/null 2>&1 &
  else
    nohup "$node" "$main" hook "$2" --standby "$session" < /dev/null > /dev/null 2>&1 &
  fi
  # Its pid, at once: the prompt, which may come while it loads, then knows to wait for it.
  printf '%s\n' "$!" > "$dir/standby/pid.$$" && mv -f "$dir/standby/pid.$$" "$dir/standby/pid"
  exit 0
fi

# The prompt: the begin, snapshot included, is recorded by a detached Node while the agent
# calls its model; the mark holds that process's pid until it is done (Node removes it; written
# after the start, so a begin done first leaves a mark whose pid is gone). The session's
# standby records it, if there is one: one still loading (started at the session's start, a
# moment ago) is waited for, up to 0.3 s. Its pid goes in the mark before the claim (it removes
# the mark once the begin is recorded, and lives on). One that died, or dies before it takes
# the begin, leaves it to a new recorder below.
if [ -n "$begin" ] && [ "$name" = "$begin" ]; then
  mkdir -p "$dir" 2> /dev/null && mv -f "$tmp" "$dir/begin.$$" 2> /dev/null || fallback "$@"
  sbpid=
  [ "${SNAPLINE_STANDBY-1}" = 0 ] || IFS= read -r sbpid 2> /dev/null < "$dir/standby/pid"
  case $sbpid in '' | *[!0-9]*) sbpid= ;; esac
  waited=0
  while [ -n "$sbpid" ] && [ ! -f "$dir/standby/ready" ] && [ "$waited" -lt 30 ] && running "$sbpid"; do
    sleep 0.01 2> /dev/null || break
    waited=$((waited + 1))
  done
  if [ -n "$sbpid" ] && [ -f "$dir/standby/ready" ] && running "$sbpid"; then
    printf '%s\n' "$sbpid" > "$dir/beginning"
    if mv "$dir/standby/ready" "$dir/standby/claimed.$$" 2> /dev/null; then
      running "$sbpid" || ! [ -f "$dir/begin.$$" ] && exit 0
      rm -f "$dir/standby/claimed.$$"
    fi
  fi
  if command -v setsid > /dev/null 2>&1; then
    setsid "$node" "$main" hook "$2" --begin-from "$dir/begin.$$" < /dev/null > /dev/null 2>&1 &
  else
    nohup "$node" "$main" hook "$2" --begin-from "$dir/begin.$$" < /dev/null > /dev/null 2>&1 &
  fi
  printf '%s\n' "$!" > "$dir/beginning"
  exit 0
fi

# The agent's session ends while no turn of it is open: nothing to close. The idle mark is
# left by an end once its turn is recorded and removed by a begin before it opens a turn
# (src/session/fast-steps.ts, markAgentSessionIdle). An end this script answered closes the
# open turn (checked first: its file is removed only after the idle mark is left). The
# session's standby goes too: a claim without an event dismisses it, and one busy (recording
# that end) finds the `close` mark when it is done.
if [ -n "$close" ] && [ "$name" = "$close" ]; then
  answered=
  for file in "$ends/$2+$session+"msg_*; do
    [ -f "$file" ] && answered=1
  done
  [ -n "$answered" ] || [ -f "$dir/idle" ] || fallback "$@"
  rm -f "$tmp"
  mv "$dir/standby/ready" "$dir/standby/claimed.$$" 2> /dev/null || { [ ! -d "$dir/standby" ] || : > "$dir/standby/close"; } 2> /dev/null
  exit 0
fi
if [ -n "$end" ] && [ "$name" = "$end" ]; then
  plain_end || fallback "$@"
  [ -d "$ends" ] || fallback "$@"
elif [ "$name" != "$step" ]; then
  fallback "$@"
fi
# A step of an agent with a barrier goes to the session's standby, if one waits, before the checks
# below: it is deferred (the agent waits for neither the standby's check nor its snapshot), and
# the checks' two git listings would only hold back the snapshot, which the next event waits for.
[ "$name" != "$step" ] || [ -z "$barrier" ] || standby

# The ticket: written by the last Node step of this agent session while its turn is open.
# Lines: format, the open turn's assistant message, workspace, store, the workspace's turn
# lock, the size of the store's index; then the conditions the ignore rules and the
# configuration were read under (src/session/fast-steps.ts, writeStepTicket).
# Each `same` file is compared in the background, beside git's scan below.
[ -f "$dir/ticket" ] || fallback "$@"
n=0
nc_include=
nc_checks=
while IFS= read -r line; do
  n=$((n + 1))
  case $n in
    1) [ "$line" = "snapline-step-ticket 1" ] || fallback "$@" ;;
    2) assistant=$line ;;
    3) worktree=$line ;;
    4) store=$line ;;
    5) turnlock=$line ;;
    6) isize=$line ;;
    *) nc_condition "$line" "$dir" || fallback "$@" ;;
  esac
done < "$dir/ticket"
[ "$n" -ge 6 ] || fallback "$@"
case $isize in '' | *[!0-9]*) fallback "$@" ;; esac
[ "$isize" -ge 32 ] || fallback "$@"
case $assistant in msg_*[!A-Za-z0-9_]* | '') fallback "$@" ;; msg_*) ;; *) fallback "$@" ;; esac
[ -d "$worktree" ] || fallback "$@"

# git's scan of the store finds nothing, and nobody is recording, restoring or snapshotting this
# workspace, before or after it (else Node waits for them). The index git compared with is the
# one the open step's snapshot was read from: same size, same last 32 bytes (git's checksum of
# all the rest). Checked after the scan: an index rewritten since can never be byte for byte the
# old one.
nc_scan "$worktree" "$store" "$turnlock" nothreads || fallback "$@"
cmp -s "$store/index" "$dir/index-tail" "$((isize - 32))" 0 || fallback "$@"

# Nothing changed. The files in tmp/ are removed in the background (the agent waits for this
# process, not for that).
if [ "$name" = "$end" ]; then
  # The turn's end: the workspace is the open step's snapshot, which is then the end's. The
  # ticket goes first (whatever comes next goes to Node); the pending end is an empty file whose
  # time (mtime) is now, after the check (noclobber: one already there goes to Node, which
  # records it). Its recorder is the session's standby, if one waits (claimed with `end.PID`
  # beside the claim; nobody waits for it), so no new Node starts beside the agent's exit; else
  # a new Node, in its own session, with nothing of the agent's — not its stdin, stdout or
  # stderr — so the agent does not wait for it. If neither records it, the next turn call or
  # reader does.
  rm -f "$dir/ticket" || fallback "$@"
  set -C
  : > "$ends/$2+$session+$assistant" 2>/dev/null || fallback "$@"
  set +C
  rm -f "$tmp" < /dev/null > /dev/null 2>&1 &
  sb=$dir/standby
  if [ "${SNAPLINE_STANDBY-1}" != 0 ] && [ -f "$sb/ready" ] && : > "$sb/end.$$" 2> /dev/null; then
    mv "$sb/ready" "$sb/claimed.$$" 2> /dev/null && exit 0
    rm -f "$sb/end.$$"
  fi
  if command -v setsid > /dev/null 2>&1; then
    setsid "$node" "$main" hook "$2" --pending-end "$session" < /dev/null > /dev/null 2>&1 &
  else
    nohup "$node" "$main" hook "$2" --pending-end "$session" < /dev/null > /dev/null 2>&1 &
  fi
  exit 0
fi
# A step: leave the event for Node, in a file of its own (noclobber: an entry of the same name
# is never replaced). Its time (mtime) is now, after the check.
[ -d "$dir/pending" ] || fallback "$@"
set -C
printf '%s\n' "$event" > "$dir/pending/$assistant.$$" 2>/dev/null || fallback "$@"
rm -f "$tmp" < /dev/null > /dev/null 2>&1 &
exit 0
