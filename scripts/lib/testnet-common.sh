# shellcheck shell=bash
# Shared helpers for scripts/testnet and scripts/testnet-smoke. Sourced, never executed.
#
# Conventions: every wait is a bounded poll (wait_until), every process we start is recorded in
# "$DIR/pids" as "<name> <pid>" and is only ever signalled by that PID after checking that its
# command line still mentions the testnet directory (guards against PID reuse).

# shellcheck disable=SC2034 # used by the scripts that source this file
TESTNET_MARKER=".mcpz-testnet"

log() { printf '[testnet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[testnet %s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[testnet %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2
  exit 1
}

# Short, non-secret prefix of a token for logs ("abcd…").
redact() { printf '%s…' "${1:0:4}"; }

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command '$c' not found in PATH"
  done
}

# wait_until <timeout-seconds> <description> <command...>
# Polls the command every 0.2 s until it succeeds or the deadline passes.
wait_until() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      warn "timed out after ${timeout}s waiting for: $what"
      return 1
    fi
    sleep 0.2
  done
}

# A TCP port on 127.0.0.1 that nothing listens on right now, not in the exclusion list.
free_port() {
  local exclude=" $* " p
  for _ in $(seq 1 50); do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    [[ $exclude == *" $p "* ]] || {
      echo "$p"
      return 0
    }
  done
  die "could not find a free loopback port"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_is_free() { ! port_open "$1"; }

# is_ours <pid> <dir>: the PID is alive and its command line or environment (e.g. HOME=<dir>/home-alice)
# mentions the testnet dir.
is_ours() {
  local pid=$1 dir=$2
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$dir" && return 0
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qF -- "$dir"
}

pid_alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# stop_pid <pid> <dir> <name> [grace-seconds]: SIGTERM, bounded wait, then SIGKILL.
stop_pid() {
  local pid=$1 dir=$2 name=$3 grace=${4:-10}
  if ! is_ours "$pid" "$dir"; then
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_until "$grace" "$name (pid $pid) to exit" bash -c "! kill -0 $pid 2>/dev/null"; then
    warn "$name (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 "$name (pid $pid) to die" bash -c "! kill -0 $pid 2>/dev/null" || true
  fi
}

# record_pid <dir> <name> <pid>: replaces the PID of an existing line for <name> in place (so that
# `down`, which stops processes in reverse order of the lines, keeps the start order of the net), or
# appends a new line.
record_pid() {
  local dir=$1 name=$2 pid=$3 f="$1/pids"
  touch "$f"
  awk -v n="$name" -v p="$pid" '$1 == n { if (!done) print n, p; done = 1; next } { print } END { if (!done) print n, p }' \
    "$f" >"$f.tmp"
  mv "$f.tmp" "$f"
}

pid_of() {
  local dir=$1 name=$2
  [[ -f $dir/pids ]] || return 0
  awk -v n="$name" '$1 == n { print $2 }' "$dir/pids" | tail -n 1
}

# start_bg <dir> <name> <logfile> <command...>: starts a detached process (own session, stdin from
# /dev/null, stdout+stderr to the log) and records its PID.
start_bg() {
  local dir=$1 name=$2 logf=$3
  shift 3
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" </dev/null >>"$logf" 2>&1 &
  else
    "$@" </dev/null >>"$logf" 2>&1 &
  fi
  local pid=$!
  record_pid "$dir" "$name" "$pid"
  echo "$pid"
}

# env_get <envfile> <KEY>
env_get() {
  local f=$1 k=$2
  [[ -f $f ]] || return 1
  awk -F= -v k="$k" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$f"
}

# load_env <envfile>: exports every KEY=VALUE line (values never contain spaces or quotes).
load_env() {
  local f=$1 line
  [[ -f $f ]] || die "no env file at $f (is the testnet up?)"
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    export "${line?}"
  done <"$f"
}

# abs_path <path>: absolute path without requiring it to exist.
abs_path() {
  case $1 in
  /*) printf '%s\n' "$1" ;;
  *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

# Print the last lines of a log to stderr, to make failures self-explanatory.
show_log_tail() {
  local f=$1 n=${2:-25}
  [[ -f $f ]] || return 0
  printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
  tail -n "$n" "$f" >&2 || true
  printf -- '-----\n' >&2
}
