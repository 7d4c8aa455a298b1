#!/usr/bin/env bash
# Compares builds of logstore (e.g. an older commit against the current
# one) in interleaved runs, the order of the builds rotating each round,
# so that drift of the machine and the page cache falls on every build
# alike. Each build is a `logstore-bench` binary, named NAME=PATH.
#
#   crates/logstore-bench/compare-builds.sh --rounds 6 \
#       --workloads w1,w4,w5 old=/path/to/old/logstore-bench \
#       new=target/release/logstore-bench
#
# Writes OUT/NAME-ROUND/{results.csv,table.md} and prints, for the main
# figure of each workload step, every build's median and its runs.
set -euo pipefail

rounds=6 workloads=w1,w4,w5 out=target/compare-builds
builds=()
while (($#)); do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --workloads) workloads=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *=*) builds+=("$1"); shift ;;
        *) echo "usage: $0 [--rounds N] [--workloads LIST] [--out DIR] NAME=BENCH_BINARY..." >&2; exit 2 ;;
    esac
done
((${#builds[@]} >= 2)) || { echo "name at least two builds, NAME=BENCH_BINARY" >&2; exit 2; }
mkdir -p "$out"
data="$out/data"
n=${#builds[@]}
for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < n; k++)); do
        # Round r starts with build (r-1) mod n, and every other round
        # goes backwards, so that each build runs first, last and between.
        if ((r % 2)); then i=$(((r - 1 + k) % n)); else i=$(((r - 1 - k + 2 * n) % n)); fi
        name=${builds[$i]%%=*} bin=${builds[$i]#*=}
        echo "round $r: $name (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        rm -rf "$data"
        "$bin" --runs 1 --stores logstore --workloads "$workloads" \
            --dir "$data" --out "$out/$name-$r" >"$out/$name-$r.log" 2>&1
    done
done
rm -rf "$data"

python3 - "$out" "${builds[@]%%=*}" <<'PY'
import csv, glob, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
main = {"appends_per_s", "records_per_s", "p99_us", "mb_per_s_durable"}
runs = {}
for name in names:
    for f in sorted(glob.glob(f"{out}/{name}-*/results.csv")):
        for row in csv.DictReader(open(f)):
            if row["metric"] in main:
                runs.setdefault((row["step"], row["metric"]), {}).setdefault(name, []).append(float(row["median"]))
for (step, metric), by in sorted(runs.items()):
    cells = [f"{n}: {statistics.median(v):,.0f} [{' '.join(f'{x:,.0f}' for x in v)}]" for n, v in by.items()]
    print(f"{step} {metric}: " + " | ".join(cells))
PY
