#!/usr/bin/env bash
# run-tests.sh BUILDDIR [pytest args...]: every suite, then one summary line.
# Unit tests, fuzz corpus replays and the Slurm sweep test run under `meson test`; the
# conformance suite runs under pytest against the vm binary of BUILDDIR, once per target.
# With MIGBENCH_TSAN_BUILD set to a -Db_sanitize=thread build (./mb test sets it),
# scripts/run-tsan.sh then runs the unit tests and a few real migrations under
# ThreadSanitizer.  Individual test cases are counted (GTest TAP results and pytest cases),
# so the summary says how many ran.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: run-tests.sh BUILDDIR}; shift
cd "$top"

py=""
for cand in python3 /usr/bin/python3; do
    if "$cand" -c 'import pytest' 2>/dev/null; then py=$cand; break; fi
done
[[ -n "$py" ]] || { echo "run-tests: no python3 with pytest (install python3-pytest)" >&2; exit 1; }

export MIGBENCH_NO_PROGRESS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

meson test -C "$build" --no-rebuild --print-errorlogs --suite unit --suite fuzz --suite slurm \
    --num-processes 2
meson_rc=$?

# The conformance suite against every target this machine has (conformance/run-all.sh):
# sim with both schemas always, real QEMU when installed, the KVM guest when /dev/kvm is
# usable.  MIGBENCH_TARGETS=LIST overrides the choice (e.g. "sim" for a quick run).
junit="$build/conformance-junit.xml"
rm -f "$junit"
pytest_rc=0
if [[ -d conformance/tests ]]; then
    targets=()
    [[ -n "${MIGBENCH_TARGETS:-}" ]] && targets=(--targets "$MIGBENCH_TARGETS")
    conformance/run-all.sh "$build" "${targets[@]}" -- "$@"
    pytest_rc=$?
fi

# ThreadSanitizer: its own build (a TSan binary cannot also carry ASan).
tsan_rc=0
tsan_logs=()
if [[ -n "${MIGBENCH_TSAN_BUILD:-}" ]]; then
    tsan=$MIGBENCH_TSAN_BUILD
    rm -f "$tsan/meson-logs/testlog.json" "$tsan/tsan-junit.xml"
    PYTHON=$py scripts/run-tsan.sh "$tsan"
    tsan_rc=$?
    tsan_logs=("$tsan/meson-logs/testlog.json" "$tsan/tsan-junit.xml")
fi

"$py" scripts/summarize-tests.py "$build/meson-logs/testlog.json" "$junit" "${tsan_logs[@]}"
sum_rc=$?
if [[ $meson_rc -ne 0 || $pytest_rc -ne 0 || $tsan_rc -ne 0 || $sum_rc -ne 0 ]]; then exit 1; fi
exit 0
