#!/usr/bin/env bash
# flake-run.sh BUILDDIR [RUNS] [--targets LIST] [-- PYTEST ARGS]: the conformance suite on its sim targets
# (default sim,sim40; see conformance/run-all.sh) RUNS times in a row (default 20) while
# another process keeps one core busy, to catch tests that depend on timing.  Used before
# closing any change to the suite.  Prints one line per run and, last:
#   flake-run: 20 of 20 runs passed (sim,sim40; one core busy; 31m12s)
# Logs of failed runs stay in BUILDDIR/flake-run/.  Exit status 1 if any run failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: flake-run.sh BUILDDIR [RUNS] [--targets LIST] [-- PYTEST ARGS]}
shift
[[ "$build" = /* ]] || build="$top/$build"
runs=20
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
targets="sim,sim40"
if [[ "${1:-}" == "--targets" ]]; then targets=$2; shift 2; fi
[[ "${1:-}" == "--" ]] && shift
extra=("$@")

logs="$build/flake-run"
rm -rf "$logs"
mkdir -p "$logs"

# The busy core: a shell spinning until we stop it (by its pid).
sh -c 'while :; do :; done' &
burner=$!
trap 'kill "$burner" 2>/dev/null' EXIT

start=$(date +%s)
ok=0
for i in $(seq 1 "$runs"); do
    t0=$(date +%s)
    "$top/conformance/run-all.sh" "$build" --targets "$targets" -- "${extra[@]}" \
        >"$logs/run-$i.log" 2>&1
    rc=$?
    t1=$(date +%s)
    summary=$(grep -E "^[0-9]+ (passed|failed)|(passed|failed).* in [0-9.]+s" "$logs/run-$i.log" |
              tr '\n' ' ')
    if [[ $rc -eq 0 ]]; then
        ok=$((ok + 1))
        echo "run $i: ok ($((t1 - t0)) s) $summary"
        rm -f "$logs/run-$i.log"
    else
        echo "run $i: FAILED ($((t1 - t0)) s), log $logs/run-$i.log"
        grep -E "^(FAILED|ERROR) " "$logs/run-$i.log" | sed 's/^/    /'
    fi
done
total=$(( $(date +%s) - start ))
echo "flake-run: $ok of $runs runs passed ($targets; one core busy; $((total / 60))m$((total % 60))s)"
[[ $ok -eq $runs ]]
