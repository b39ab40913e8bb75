#!/usr/bin/env bash
# run-tsan.sh BUILDDIR: the ThreadSanitizer pass of the test suite (scripts/run-tests.sh).
# BUILDDIR is a -Db_sanitize=thread build (./mb test makes build-tsan).  Runs the unit and
# fuzz-corpus tests, then a lean selection of real migrations on the sim target that puts
# every engine thread to work: multifd (none, zlib, zstd, and a channel failing on the
# destination), compress threads and decompress workers, xbzrle with a live cache resize and
# live parameter changes, a return path, a cancel, COLO (checkpoints, failover, a stream cut
# in a checkpoint), a cancel in wait-unplug, and TLS (its return path and multifd channels).
# Any TSan report fails the run:
# halt_on_error + exitcode for the unit tests, and the conformance fixture fails a test
# whose vm printed "WARNING: ThreadSanitizer".  Results go to BUILDDIR/meson-logs/
# testlog.json and BUILDDIR/tsan-junit.xml, which scripts/summarize-tests.py counts.
# GLib is uninstrumented: see util/mb_tsan_glib.c and scripts/tsan.supp (docs/contributing.md).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: run-tsan.sh BUILDDIR}
cd "$top"
[[ "$build" = /* ]] || build="$top/$build"

# ignore_noninstrumented_modules: a malloc in one GLib-internal frame and the free in
# another thread's GLib-internal frame (seen once in qmp-e2e, all frames inside Debian's
# stripped libglib, so no suppression by name can match) is GLib's own hand-off, which
# TSan cannot see; memory the project's instrumented code touches is still checked.
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$top/scripts/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
# GSlice recycles memory between threads behind TSan's back (GLib 2.74); plain malloc it is.
export G_SLICE=always-malloc
export MIGBENCH_NO_PROGRESS=1

py=${PYTHON:-}
if [[ -z "$py" ]]; then
    for cand in python3 /usr/bin/python3; do
        if "$cand" -c 'import pytest' 2>/dev/null; then py=$cand; break; fi
    done
fi
[[ -n "$py" ]] || { echo "run-tsan: no python3 with pytest (install python3-pytest)" >&2; exit 1; }

echo "== tsan: unit and fuzz tests"
meson test -C "$build" --no-rebuild --print-errorlogs --suite unit --suite fuzz \
    --num-processes 2
meson_rc=$?

selection=(
    "conformance/tests/test_feature_ram.py::test_multifd_compression"
    "conformance/tests/test_feature_ram.py::test_multifd_compression_mismatch_fails"
    "conformance/tests/test_feature_ram.py::test_compress_busy_without_waiting"
    "conformance/tests/test_feature_ram.py::test_xbzrle_cache_resize_during_migration"
    "conformance/tests/test_feature_ram.py::test_return_path_reports_destination_failure"
    "conformance/tests/test_migrate_control.py::test_cancel_active_then_migrate_again"
    "conformance/tests/test_postcopy.py::test_postcopy_completes"
    "conformance/tests/test_postcopy.py::test_cancel_in_postcopy"
    "conformance/tests/test_postcopy.py::test_postcopy_recovery"
    "conformance/tests/test_postcopy_recovery.py::test_second_break_during_recovery"
    "conformance/tests/test_colo.py::test_checkpoints_then_failover_on_the_primary"
    "conformance/tests/test_colo.py::test_stream_cut_in_a_checkpoint_leaves_the_previous_one"
    "conformance/tests/test_failover.py::test_cancel_in_wait_unplug_replugs_the_primary"
    "conformance/tests/test_block.py::test_blk_full_copy"
    "conformance/tests/test_block.py::test_dirty_bitmaps_migrated"
    "conformance/tests/test_tls.py::test_tls_return_path"
    "conformance/tests/test_tls.py::test_tls_multifd"
)
echo "== tsan: migrations (sim)"
junit="$build/tsan-junit.xml"
rm -f "$junit"
MIGBENCH="$build/cli/migbench" "$py" -m pytest -q -p no:cacheprovider "${selection[@]}" \
    --target migbench --schema 5.0 --junitxml="$junit" -o junit_suite_name=tsan
pytest_rc=$?
if [[ $meson_rc -ne 0 || $pytest_rc -ne 0 ]]; then exit 1; fi
exit 0
