#!/usr/bin/env bash
# The runs behind a published REPORT.md, in one go, from a clean tree (the report refuses runs
# of a dirty one or of several commits), then the report with compact copies of its runs in
# report-runs/ (docs/METHOD.md, Results and report). Every variant: plain sync, sync-resilient,
# async. Run it at the repository's top level; it prints each step's wall time and the total.
# Measured on the 2-core machine (10c4fa8, quick profiles, three variants): the benchmark with
# its capacity sweeps 41 min, the crash matrix, the dose-response and the overload experiment
# 30 min more (71 in all); `STEPS="chaos gray overload"` with a separate
# `lab bench --no-sweep` is the short way.
#
#     scripts/report_runs.sh            # quick profiles (default)
#     PROFILE=full scripts/report_runs.sh
#     STEPS="bench chaos" scripts/report_runs.sh   # a subset; the report takes what is there
#     STEPS="... graymatrix ..."   # adds the matrix of gray faults (~20 min at quick, 3 variants)
#     BENCH_ARGS=--no-sweep CAPACITY=325 scripts/report_runs.sh   # no sweep; C given
set -euo pipefail
cd "$(dirname "$0")/.."
lab=.venv/bin/lab
profile=${PROFILE:-quick}
impls=${IMPLS:-sync,sync-resilient,async}
results=${RESULTS_DIR:-results}
steps=${STEPS:-bench chaos gray overload}
if [ -n "$(git status --porcelain)" ]; then
    echo "error: the tree has uncommitted changes: a report is made of one clean commit's runs" >&2
    exit 2
fi
mkdir -p "$results"
ids=()
newest() { ls -1 "$results" | sort | tail -1; }
step() {  # step NAME COMMAND...: run it, time it, remember the run it wrote
    local name=$1 began=$SECONDS
    shift
    echo "== $name: $*"
    # A run that judges itself failed (a lost write, a generator behind) exits non-zero but is
    # kept: the report says what failed.
    "$@" || echo "== $name exited $? (its run is kept)"
    ids+=("$(newest)")
    echo "== $name took $((SECONDS - began)) s (run ${ids[-1]})"
}
total=$SECONDS
for s in $steps; do
    case $s in
    bench) step bench "$lab" bench --impl "$impls" --profile "$profile" ${BENCH_ARGS:-} \
        --results-dir "$results" ;;
    chaos) step chaos "$lab" chaos --matrix --impl "$impls" --profile "$profile" \
        --results-dir "$results" ;;
    graymatrix) step graymatrix "$lab" chaos --gray-matrix --impl "$impls" --profile "$profile" \
        --results-dir "$results" ;;
    gray) step gray "$lab" chaos --dose-response slow-db:posts --doses 0,50,200,1000 \
        --impl "$impls" --profile "$profile" --results-dir "$results" ;;
    overload)
        # `|| true`: the loop's status is its last grep's, and under `set -e -o pipefail` a
        # last run that is not a bench run would end the script here, silently.
        bench=$(for id in "${ids[@]}"; do
            grep -l '"kind": "bench"' "$results/$id/meta.json" >/dev/null 2>&1 && echo "$id"
        done | tail -1 || true)
        # C: CAPACITY=N (requests/s, e.g. from an earlier full run) when the bench step
        # skipped its sweep (CAPACITY_SOURCE: where it comes from, for the report); otherwise plain
        # sync's capacity in this set's bench run.
        if [ -n "${CAPACITY:-}" ]; then
            c=(--capacity "$CAPACITY" --capacity-source "${CAPACITY_SOURCE:-given}")
        else
            c=(${bench:+--capacity-from "$bench"})
        fi
        step overload "$lab" chaos --overload --impl "$impls" --profile "$profile" \
            "${c[@]}" --results-dir "$results" ;;
    causality) step causality "$lab" bench --causality refuse,wait,accept --repeat 2 \
        --causality-faults kill-db:comments,kill-bus --profile "$profile" --results-dir "$results" ;;
    *) echo "error: unknown step $s (bench, chaos, graymatrix, gray, overload, causality)" >&2
        exit 2 ;;
    esac
done
"$lab" report --results-dir "$results" --keep-runs report-runs "${ids[@]}"
echo "== every run and the report: $((SECONDS - total)) s"
