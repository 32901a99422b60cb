#!/usr/bin/env bash
# Keeps one process of the run command (infra/run.sh) running: starts COMMAND with its output
# appended to LOG and, whenever it exits, starts it again after a backoff of 1 s that doubles
# (to at most 30 s) while it keeps dying within 30 s of its start, and is 1 s again once it has
# run that long. Each exit and restart is written to LOG and to stderr (run.sh's terminal).
#
# While COMMAND runs, its pid is in NAME.pid beside LOG (removed while it is down and when this
# script stops), for tools that act on one part of the stack: `loadgen soak` kills them by it.
#
# SIGTERM (or SIGINT, SIGHUP) stops it: COMMAND gets SIGTERM and is waited for, so it drains
# as it does on its own, then this script exits 0. COMMAND runs with a parent-death signal
# (setpriv --pdeathsig), so it is stopped the same way if this script is killed outright.
#
#   infra/supervise.sh NAME LOG COMMAND [ARG...]
#
# Why not supervisord (PyPI `supervisor`)? Its backoff only applies to a process that exits
# within `startsecs` of a start, grows by one second a try and ends in FATAL after
# `startretries`, leaving that part down until someone restarts it; it logs exits only to its
# own log (the process's log would need an event listener), and starting in order once each
# part is ready would need supervisorctl calls that block for `startsecs` each. What run.sh
# needs is this one loop.
set -uo pipefail # not -e: the loop handles COMMAND's exit status itself

[ "$#" -ge 3 ] || { echo "usage: $0 NAME LOG COMMAND [ARG...]" >&2; exit 2; }
name="$1" log="$2"
shift 2
max_delay=30 # seconds; also how long a run must last for the backoff to start again at 1 s
pidfile="$(dirname "$log")/$name.pid"

pdeath=()
if command -v setpriv >/dev/null; then pdeath=(setpriv --pdeathsig TERM); fi

say() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) supervise: $name $*"
  echo "$line" >>"$log"
  echo "$line" >&2
}

child='' sleeper=''
stop() {
  trap '' TERM INT HUP
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null; fi
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  rm -f "$pidfile"
  exit 0
}
trap stop TERM INT HUP

delay=1 starts=0
while :; do
  started=$SECONDS
  "${pdeath[@]}" "$@" >>"$log" 2>&1 &
  child=$!
  # Written whole, then renamed: a reader never sees half a pid.
  echo "$child" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"
  starts=$((starts + 1))
  if [ "$starts" -gt 1 ]; then say "restarted (pid $child)"; fi
  wait "$child"
  status=$?
  rm -f "$pidfile"
  ran=$((SECONDS - started))
  if [ "$status" -gt 128 ] && sig="$(kill -l "$status" 2>/dev/null)"; then
    how="was killed by SIG$sig"
  else
    how="exited with status $status"
  fi
  if [ "$ran" -ge "$max_delay" ]; then delay=1; fi
  say "(pid $child) $how after $ran s; restarting it in $delay s"
  child=''
  sleep "$delay" &
  sleeper=$!
  wait "$sleeper"
  sleeper=''
  delay=$((delay * 2 > max_delay ? max_delay : delay * 2))
done
