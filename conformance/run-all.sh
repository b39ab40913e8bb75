#!/usr/bin/env bash
# run-all.sh BUILDDIR [--targets LIST] [--update-docs] [-- PYTEST ARGS...]
#
# The conformance suite against each target, then the coverage matrix (docs/conformance.md).
#   sim     migbench, sim guest, --schema 5.0          (always)
#   sim40   migbench, sim guest, --schema 4.0-dev      (always)
#   kvm     migbench, KVM guest                        (when /dev/kvm is usable)
#   qemu    real QEMU, targets/qemu.json               (when qemu-system-x86_64 is installed)
# Default LIST: sim,sim40, plus qemu and kvm where this machine has them.
#
# Writes BUILDDIR/conformance/<target>.json (results) and <target>.xml (junit), a merged
# BUILDDIR/conformance-junit.xml (for scripts/summarize-tests.py), and the matrix as
# BUILDDIR/conformance/matrix.md and .json; --update-docs also copies the matrix to
# docs/conformance-matrix.md and .json.  Exit status 1 if any target failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: run-all.sh BUILDDIR [--targets LIST] [--update-docs] [-- PYTEST ARGS]}
shift
[[ "$build" = /* ]] || build="$top/$build"
targets=""
update_docs=0
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --targets) targets=$2; shift 2 ;;
    --update-docs) update_docs=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run-all: unknown option $1" >&2; exit 2 ;;
    esac
done
if [[ -z "$targets" ]]; then
    targets="sim,sim40"
    command -v qemu-system-x86_64 >/dev/null && targets+=",qemu"
    [[ -r /dev/kvm && -w /dev/kvm ]] && targets+=",kvm"
fi

py=""
for cand in python3 /usr/bin/python3; do
    if "$cand" -c 'import pytest' 2>/dev/null; then py=$cand; break; fi
done
[[ -n "$py" ]] || { echo "run-all: no python3 with pytest (install python3-pytest)" >&2; exit 1; }

out="$build/conformance"
mkdir -p "$out"
export MIGBENCH="$build/cli/migbench" MIGBENCH_NO_PROGRESS=1
rc=0
results=()
cd "$top"
IFS=, read -ra list <<<"$targets"
for t in "${list[@]}"; do
    case "$t" in
    sim) args=(--target migbench --schema 5.0) ;;
    sim40) args=(--target migbench --schema 4.0-dev) ;;
    kvm)
        if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
            echo "run-all: kvm: /dev/kvm is not usable here, skipped" >&2; continue
        fi
        args=(--target migbench-kvm) ;;
    qemu)
        if ! command -v qemu-system-x86_64 >/dev/null; then
            echo "run-all: qemu: qemu-system-x86_64 is not installed, skipped" >&2; continue
        fi
        args=(--target qemu) ;;
    *) echo "run-all: unknown target $t" >&2; exit 2 ;;
    esac
    echo "== conformance: $t"
    "$py" -m pytest -q -p no:cacheprovider conformance "${args[@]}" \
        --results "$out/$t.json" --junitxml="$out/$t.xml" "${extra[@]}"
    r=$?
    [[ $r -ne 0 && $r -ne 5 ]] && rc=1
    [[ -f "$out/$t.json" ]] && results+=("$out/$t.json")
done

# One junit file for the project's summary line.
"$py" - "$build/conformance-junit.xml" "$out" "${list[@]}" <<'EOF'
import os, sys, xml.etree.ElementTree as ET
dest, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
root = ET.Element("testsuites")
for n in names:
    p = os.path.join(out, n + ".xml")
    if not os.path.exists(p):
        continue
    for suite in ET.parse(p).getroot().iter("testsuite"):
        suite.set("name", f"conformance-{n}")
        for case in suite.iter("testcase"):
            case.set("classname", f"{n}.{case.get('classname', '')}")
        root.append(suite)
ET.ElementTree(root).write(dest, encoding="utf-8", xml_declaration=True)
EOF

if [[ ${#results[@]} -gt 0 ]]; then
    "$py" conformance/matrix.py "${results[@]}" --md "$out/matrix.md" --json "$out/matrix.json"
    if [[ $update_docs -eq 1 ]]; then
        cp "$out/matrix.md" docs/conformance-matrix.md
        cp "$out/matrix.json" docs/conformance-matrix.json
        echo "run-all: docs/conformance-matrix.md and .json updated"
    fi
fi
exit $rc
