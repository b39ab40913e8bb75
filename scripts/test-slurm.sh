#!/usr/bin/env bash
# test-slurm.sh MIGBENCH: `migbench sweep --slurm` for real, on a one-node Slurm cluster
# made here from Debian's packages (slurm-wlm, munge; scripts/setup-deps.sh --ci).
#
# Generates a slurm.conf for this host with its own ports, state and spool directories
# and its own munge key and socket (nothing system-wide is touched), starts munged,
# slurmctld and slurmd in the foreground as children of this script, runs the CI sweep
# (conformance/tests/fixtures/sweep-ci-24.json) through sbatch --array, merges it, and
# checks the merged results are byte-identical to the same sweep run locally.  Stops the
# daemons at the end, whatever happened.
#
# Exit status: 0 passed, 1 failed, 77 skipped (meson's code) with the reason on stdout
# when Slurm or munge is missing or the daemons cannot start here.  Every wait has a
# deadline: the script never hangs.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=$(readlink -f "${1:?usage: test-slurm.sh MIGBENCH}")
spec="$top/conformance/tests/fixtures/sweep-ci-24.json"
export PATH="$PATH:/usr/sbin:/sbin"
export MIGBENCH_NO_PROGRESS=1

skip() { echo "SKIP: $*"; exit 77; }
for p in munged slurmctld slurmd sbatch sinfo; do
    command -v "$p" >/dev/null || skip "$p is not installed (scripts/setup-deps.sh --ci)"
done

work=$(mktemp -d /tmp/migbench-slurm-XXXXXX)
chmod 700 "$work"
pids=()
status=1
cleanup() {
    # Our own daemons only, by the pids we started.
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for _ in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
    if [[ $status -eq 0 || $status -eq 77 ]]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT

# waits until "$@" succeeds, up to $deadline seconds
wait_for() {
    local deadline=$1; shift
    local end=$((SECONDS + deadline))
    while ((SECONDS < end)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

host=$(hostname -s)
ctld_port=$(free_port)
slurmd_port=$(free_port)
mkdir -p "$work/state" "$work/spool" "$work/munge"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"

munged --foreground --force --socket="$work/munge/munge.sock" \
    --key-file="$work/munge/munge.key" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed" \
    >"$work/munged.out" 2>&1 &
pids+=($!)
wait_for 10 test -S "$work/munge/munge.sock" ||
    { status=77; skip "munged did not start: $(tail -2 "$work/munge/munged.log" "$work/munged.out" 2>/dev/null | tr '\n' ' ')"; }

cat >"$work/slurm.conf" <<EOF
ClusterName=migbench
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"

slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
idle() { [[ "$(sinfo -h -o %T 2>/dev/null)" == idle* ]]; }
if ! wait_for 60 idle; then
    status=77
    skip "the Slurm daemons did not start here: $(tail -3 "$work/slurmctld.log" "$work/slurmd.log" \
        "$work/slurmctld.out" "$work/slurmd.out" 2>/dev/null | tr '\n' ' ' | cut -c1-600)"
fi
echo "slurm: one node ($host, $(nproc) CPUs) up"

fail() { echo "FAIL: $*"; exit 1; }

# The sweep through Slurm: sbatch --wait returns when the whole array has ended.
timeout 600 "$mb" sweep --slurm --sbatch-arg=--wait -o "$work/slurm-results" "$spec" \
    >"$work/submit.out" 2>&1 || fail "sweep --slurm: $(cat "$work/submit.out")"
grep -q "submitted 24 points as Slurm job" "$work/submit.out" || fail "$(cat "$work/submit.out")"
timeout 60 "$mb" sweep --merge -o "$work/slurm-results" "$spec" >"$work/merge.out" 2>&1 ||
    fail "sweep --merge: $(cat "$work/merge.out")"
grep -q "24 ok, 0 failed, 0 missing" "$work/merge.out" || fail "$(cat "$work/merge.out")"
n_out=$(ls "$work/slurm-results/slurm/"*.out 2>/dev/null | wc -l)
[[ $n_out -eq 24 ]] || fail "expected 24 task outputs, found $n_out"

# The same sweep locally: the merged results must be identical.
timeout 900 "$mb" sweep -q -j 2 -o "$work/local-results" "$spec" ||
    fail "local sweep failed"
for f in results.csv results.json; do
    cmp "$work/local-results/$f" "$work/slurm-results/$f" ||
        fail "$f differs between the Slurm and the local sweep"
done
echo "slurm: 24 points through sbatch --array, merged results identical to the local run"
status=0
exit 0
