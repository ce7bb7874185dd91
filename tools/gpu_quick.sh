#!/usr/bin/env bash
# The gpu-quick suite on a GPU machine as it is: its own python, nothing from the network.
#
#   tools/gpu_quick.sh OUT_DIR BUDGET_S [--device cuda|cpu] [--steps N] [--suite NAME|PATH]
#                      [--wheels DIR] [-- BENCH_RUN_ARGS...]
#
# Prints the environment (bench env, nvidia-smi), runs gpu-check, then the suite for the
# frameworks that can run (--only torch where tensorflow is absent), in order of value:
# dcgan/torch first (the throughput floor), then the other torch rows, then tf. It stops
# inside BUDGET_S seconds: runs get the time left minus a reserve (GANBENCH_REPORT_RESERVE_S,
# default 60 s) and are interrupted with SIGINT when it is up; finished rows are kept
# (running the same command again carries on); the baseline, report and table are made in
# what is left, and whatever would pass the budget is skipped, saying so. OUT_DIR holds:
#   results/        one JSON row per finished run      report.html    the HTML report
#   baseline.json   `bench save-baseline` of the rows  table.txt      images/s and MFU per row
#   gpu_quick.log   everything printed
# Exit status: 0 rows, baseline and report written (also when cut short); 1 no row
# finished, or no time left for the baseline or report; 2 bad arguments or no framework
# can run.
#
# PYTHON: the interpreter (default python3). --wheels DIR installs the wheels in DIR with
# pip --no-index (e.g. pytorch-fid); nothing else is installed. --device cpu and --steps N
# are for testing the script on a CPU (tests/test_gpu_quick.py).
set -uo pipefail

usage() {
    sed -n '4,5p' "$0" | sed 's/^# *//' >&2
    exit 2
}
fail() {
    echo "gpu_quick.sh: error: $*" >&2
    exit 2
}

[[ $# -ge 2 ]] || usage
out_dir=$1
budget_s=$2
shift 2
[[ $budget_s =~ ^[0-9]+$ && $budget_s -gt 0 ]] || fail "BUDGET_S '$budget_s': expected whole seconds > 0"
device=cuda
steps=""
suite=gpu-quick
wheels=""
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --device) [[ ${2:-} == cpu || ${2:-} == cuda ]] || fail "--device '${2:-}': allowed: cpu, cuda"
            device=$2; shift 2 ;;
        --steps) [[ ${2:-} =~ ^[0-9]+$ ]] || fail "--steps '${2:-}': expected a whole number"
            steps=$2; shift 2 ;;
        --suite) [[ -n ${2:-} ]] || fail "--suite needs a suite name or .toml path"
            suite=$2; shift 2 ;;
        --wheels) [[ -d ${2:-} ]] || fail "--wheels '${2:-}': not a folder"
            wheels=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) fail "unknown argument '$1'; allowed: --device, --steps, --suite, --wheels, -- RUN_ARGS" ;;
    esac
done

started_s=$(date +%s)
deadline_s=$((started_s + budget_s))
reserve_s=${GANBENCH_REPORT_RESERVE_S:-60}
repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root" || exit 2
mkdir -p "$out_dir" || fail "cannot create $out_dir"
out_dir=$(cd "$out_dir" && pwd)
results="$out_dir/results"
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$repo_root${PYTHONPATH:+:$PYTHONPATH}"
export GANBENCH_OFFLINE=1  # never try a download: the box has no network
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec > >(tee -a "$out_dir/gpu_quick.log") 2>&1

left_s() { echo $((deadline_s - $(date +%s))); }
say() { echo "== gpu_quick.sh [$(($(date +%s) - started_s)) s of $budget_s]: $*"; }

if [[ -n $wheels ]]; then
    say "installing the wheels in $wheels (pip --no-index)"
    "$PYTHON" -m pip install --no-index --find-links "$wheels" "$wheels"/*.whl ||
        say "warning: pip could not install the wheels in $wheels; going on without them"
fi

say "environment"
"$PYTHON" -m bench env
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
fi

say "gpu-check"
check=$("$PYTHON" -m bench gpu-check)
echo "$check"
# On a GPU the frameworks that see it; testing on a CPU, every installed framework.
line=$([[ $device == cuda ]] && echo "can run" || echo "installed")
can_run=$(sed -n "s/^$line: //p" <<<"$check" | tr -d ' ' | tr ',' ' ')
[[ $can_run == none ]] && can_run=""
[[ -n $can_run ]] || fail "no framework can run on $device (see gpu-check above)"
say "frameworks that run here: $can_run"

run_args=(--suite "$suite" --out "$results" --device "$device")
[[ -n $steps ]] && run_args+=(--steps "$steps")
cut_short=0
run_pass() {  # run_pass ONLY: the suite's runs that --only ONLY keeps, within the budget
    local time_s=$(($(left_s) - reserve_s))
    if ((time_s < 10)); then
        say "budget spent: --only $1 not started"
        cut_short=1
        return
    fi
    say "bench run --only $1 (at most $time_s s)"
    timeout --signal=INT --kill-after=10 "$time_s" \
        "$PYTHON" -m bench run "${run_args[@]}" --only "$1" "${extra[@]}"
    local status=$?
    case $status in
        0) ;;
        124 | 130 | 137) say "budget reached: --only $1 cut short, finished rows kept"; cut_short=1 ;;
        *) say "bench run --only $1 ended with status $status" ;;
    esac
}
for framework in $can_run; do
    [[ $framework == torch ]] && run_pass dcgan,torch
    run_pass "$framework"
done

rows=$(find "$results/rows" -name '*.json' 2>/dev/null | wc -l)
if ((rows == 0)); then
    say "no row finished within $budget_s s; nothing to report"
    exit 1
fi
say "$rows rows; baseline, report and table, in the $(left_s) s left"
finish() {  # finish WHAT COMMAND...: run it in the time left, or say why not
    local left=$(left_s)
    if ((left < 2)); then
        say "budget spent: $1 not written"
        return 1
    fi
    timeout "$left" "${@:2}" || { say "$1 not written (status $?)"; return 1; }
}
finish "$out_dir/baseline.json" "$PYTHON" -m bench save-baseline "$results" "$out_dir/baseline.json"
finish "$out_dir/report.html" "$PYTHON" -m bench report "$results" -o "$out_dir/report.html"
finish "$out_dir/table.txt" "$PYTHON" - "$results" >"$out_dir/table.txt" <<'EOF'
import sys
from pathlib import Path
from bench.results import read_rows_skipping, rows_frame

rows, _ = read_rows_skipping(Path(sys.argv[1]))
columns = ["variant", "framework", "batch_size", "precision", "compile", "images_per_s",
           "mfu", "compile_s", "optimizer_detail", "status"]
frame = rows_frame(rows)[columns].sort_values(["variant", "framework", "batch_size"])
def shown(pattern):
    return lambda value: "-" if value != value or value is None else pattern.format(value)

formats = {"images_per_s": shown("{:,.0f}"), "mfu": shown("{:.4f}"), "compile_s": shown("{:.1f}")}
print(frame.to_string(index=False, formatters=formats, na_rep="-"))
EOF
cat "$out_dir/table.txt"
status="complete"
((cut_short)) && status="cut short at the budget (run the same command again to continue)"
if [[ -s $out_dir/baseline.json && -s $out_dir/report.html ]]; then
    say "done: $rows rows, $status; $out_dir/report.html, $out_dir/baseline.json"
    exit 0
fi
say "done: $rows rows, $status; the baseline or the report is missing (see above)"
exit 1
