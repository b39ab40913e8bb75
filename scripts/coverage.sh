#!/usr/bin/env bash
# coverage.sh BUILDDIR [--kvm]: line and branch coverage of the C code over the unit tests,
# the fuzz corpus replays and the conformance suite (sim targets, schemas 5.0 and 4.0-dev;
# --kvm adds the KVM target), as an lcov HTML report in coverage/ and one summary line:
#   coverage: lines 87.3% (12345 of 14140), branches 71.0% (6789 of 9562); coverage/index.html
# BUILDDIR must be configured with -Db_coverage=true (`./mb coverage` does it: build-cov).
# Goal (docs/conformance.md): at least 85% of lines and 70% of branches.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: coverage.sh BUILDDIR [--kvm]}
shift
[[ "$build" = /* ]] || build="$top/$build"
targets="sim,sim40"
[[ "${1:-}" == "--kvm" ]] && targets+=",kvm"
cd "$top"

command -v lcov >/dev/null && command -v genhtml >/dev/null ||
    { echo "coverage: lcov is not installed (scripts/setup-deps.sh)" >&2; exit 1; }
[[ -f "$build/build.ninja" ]] || { echo "coverage: $build is not a meson build" >&2; exit 1; }
grep -q -- "-fprofile-arcs\|--coverage" "$build/build.ninja" ||
    echo "coverage: warning: $build does not look like a -Db_coverage=true build" >&2

export MIGBENCH_NO_PROGRESS=1
lcov --quiet --zerocounters --directory "$build"
rc=0
meson test -C "$build" --no-rebuild --print-errorlogs --suite unit --suite fuzz \
    --num-processes 2 >/dev/null || { echo "coverage: some unit/fuzz tests failed" >&2; rc=1; }
conformance/run-all.sh "$build" --targets "$targets" >"$build/coverage-conformance.log" 2>&1 ||
    { echo "coverage: the conformance suite failed ($build/coverage-conformance.log)" >&2; rc=1; }

info="$build/coverage.info"
lcov --quiet --capture --directory "$build" --rc lcov_branch_coverage=1 \
    --output-file "$info.all" 2>/dev/null
# Our C code only: no system headers, tests, fuzz harnesses, benchmarks or generated files.
lcov --quiet --rc lcov_branch_coverage=1 --remove "$info.all" '/usr/*' '*/tests/*' \
    '*/fuzz/*' '*/bench/*' "$build/*" --output-file "$info" 2>/dev/null
rm -rf coverage
genhtml --quiet --branch-coverage --legend --title "migbench coverage" \
    --output-directory coverage "$info" >/dev/null 2>&1

lcov --rc lcov_branch_coverage=1 --summary "$info" 2>&1 | python3 -c '
import re, sys
text = sys.stdin.read()
def pick(kind):
    m = re.search(kind + r"\.*: ([\d.]+)% \((\d+) of (\d+)", text)
    return m.groups() if m else ("?", "?", "?")
l, b = pick("lines"), pick("branches")
print(f"coverage: lines {l[0]}% ({l[1]} of {l[2]}), branches {b[0]}% ({b[1]} of {b[2]}); "
      "coverage/index.html")'
exit $rc
