# snapline's no-change check without Node, sourced by src/agents/step-hook.sh (an agent's step
# and end) and bin/snapline (`snapline snapshot track`). It only defines functions; each returns
# non-zero when it cannot say "nothing changed", and the caller then runs Node, which always
# can. A ticket written by Node (src/snapshot/ticket.ts) says what the store's last snapshot was
# read from; these functions check that it still holds and that git's scan finds nothing.
# Never writes to stdout.

# snapline's data directory, as src/config.ts finds it, in $data.
nc_data_dir() {
  if [ -n "${SNAPLINE_HOME-}" ]; then data=$SNAPLINE_HOME
  elif [ -n "${XDG_DATA_HOME-}" ]; then data=$XDG_DATA_HOME/snapline
  elif [ -n "${HOME-}" ]; then data=$HOME/.local/share/snapline
  else return 1
  fi
  case $data in /*) ;; *) return 1 ;; esac
}

# One condition line of a ticket whose copies are in directory $2. `same COPY PATH` and `env
# COPY` are compared in the background (their pids collected in $nc_checks, waited for by
# nc_scan); `include FILE` names the snapshot.include patterns for nc_scan ($nc_include).
nc_condition() {
  case $1 in
    'same '*)
      nc_rest=${1#same }
      cmp -s "${nc_rest#* }" "$2/${nc_rest%% *}" &
      nc_checks="$nc_checks $!"
      ;;
    # `line COPY PATH`: PATH holds exactly one line, COPY's (no process: a HEAD file, a ref).
    'line '*)
      nc_rest=${1#line }
      IFS= read -r nc_want < "$2/${nc_rest%% *}" || return 1
      { IFS= read -r nc_got && ! IFS= read -r nc_more && [ -z "$nc_more" ]; } < "${nc_rest#* }" || return 1
      [ "$nc_got" = "$nc_want" ]
      ;;
    'absent '*) [ ! -e "${1#absent }" ] && [ ! -L "${1#absent }" ] ;;
    'env '*)
      [ -n "${SNAPLINE_CONFIG_CONTENT-}" ] || return 1
      printf '%s' "$SNAPLINE_CONFIG_CONTENT" | cmp -s - "$2/${1#env }" &
      nc_checks="$nc_checks $!"
      ;;
    noenv) [ -z "${SNAPLINE_CONFIG_CONTENT-}" ] ;;
    # The user's configuration file is where src/config.ts would look for it now.
    'userconfig '*)
      if [ -n "${XDG_CONFIG_HOME-}" ]; then nc_user=$XDG_CONFIG_HOME/snapline/config.json
      elif [ -n "${HOME-}" ]; then nc_user=$HOME/.config/snapline/config.json
      else return 1
      fi
      [ "$nc_user" = "${1#userconfig }" ]
      ;;
    'include '*) nc_include=$2/${1#include } ;;
    *) return 1 ;;
  esac
}

# The store's scan (src/snapshot/track.ts, scanChanges) of workspace $1 in store $2: succeeds
# when nothing is untracked, changed or newly included, every condition check started by
# nc_condition succeeded, and no snapline process holds the workspace's turn lock ($3, may be
# empty) or the store, before or after. `diff-files` runs with git's preload threads unless $4
# is `nothreads`: the two listings already run side by side, and on a small, busy machine the
# threads only contend (the step hook's choice, measured at load 7–8: docs/agents.md); at
# moderate load they help (track's choice: docs/snapshot.md). The answer is the same. (The
# listings are read as text only to see that they are empty: no file to write and remove.)
# Big files whose entries wait unvouched beside the index (src/snapshot/unvouched.ts), when
# its record names this index, are left out of `diff-files`; instead GNU `stat` must print
# exactly their recorded lines (nothing written since their copy). Any other `stat` fails the
# comparison, and Node answers.
nc_scan() {
  [ -d "$1" ] && { [ -z "$3" ] || [ ! -e "$3" ]; } && [ ! -e "$2/snapline.lock" ] && [ ! -e "$2/restore-journal" ] || return 1
  nc_found=$(
    unset GIT_DIR GIT_WORK_TREE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_COMMON_DIR GIT_NAMESPACE GIT_PREFIX
    GIT_INDEX_FILE=$2/index
    GIT_TERMINAL_PROMPT=0
    export GIT_INDEX_FILE GIT_TERMINAL_PROMPT
    threads=true
    [ "$4" != nothreads ] || threads=false
    ws=$1 store=$2 record=$2/snapline-unvouched
    set --
    if [ -e "$record" ]; then
      { IFS= read -r fp && while IFS= read -r line; do set -- "$@" "${line#* * * * * * }"; done; } < "$record" || { echo failed; exit; }
      size=${fp%%:*}
      case $size in '' | *[!0-9]*) echo failed; exit ;; esac
      [ "$size" -ge 32 ] || { echo failed; exit; }
      tail=$(od -A n -v -t x1 -j "$((size - 32))" -N 33 "$store/index") || { echo failed; exit; }
      # shellcheck disable=SC2086
      (set -f; set -- $tail; IFS=; [ "$*" = "${fp#*:}" ]) || { echo failed; exit; }
      { (printf '%s\n' "$fp" && cd "$ws" && stat -c '%f %s %i %d %.9Y %.9Z %n' -- "$@") 2> /dev/null | cmp -s - "$record" || echo failed; } &
      for path do
        shift
        set -- "$@" ":(exclude,literal)$path"
      done
    fi
    { git -C "$ws" --git-dir="$store" --work-tree="$ws" ls-files -z -o --exclude-standard 2> /dev/null || echo failed; } &
    { git -C "$ws" --git-dir="$store" --work-tree="$ws" -c core.preloadIndex=$threads diff-files -z --name-only -- "$@" 2> /dev/null || echo failed; } &
    if [ -n "$nc_include" ]; then
      git -C "$ws" --git-dir="$store" --work-tree="$ws" ls-files -z -o -i --exclude-from="$nc_include" 2> /dev/null || echo failed
    fi
    wait
  ) || return 1
  [ -z "$nc_found" ] || return 1
  for nc_pid in $nc_checks; do wait "$nc_pid" || return 1; done
  { [ -z "$3" ] || [ ! -e "$3" ]; } && [ ! -e "$2/snapline.lock" ]
}
