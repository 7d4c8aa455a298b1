#!/usr/bin/env bash
# Starts or stops a 3-node logstore cluster on 127.0.0.1.
#
#   scripts/cluster.sh start DIR [BASE_PORT]   # nodes on BASE_PORT+1..+3 (default 21000)
#   scripts/cluster.sh stop DIR
#
# Each node keeps its files in DIR/nN and writes its log to DIR/nN.log; the
# process ids are kept in DIR/pids.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
dir=${2:-}
base=${3:-21000}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,9p' "$0"; exit 2; }

case "$cmd" in
start)
    cargo build --release -q -p logstore-cluster
    mkdir -p "$dir"
    peers=()
    for i in 1 2 3; do peers+=(--peer "$i=127.0.0.1:$((base + i))"); done
    : > "$dir/pids"
    for i in 1 2 3; do
        init=()
        [ "$i" = 1 ] && init=(--init)
        target/release/logstore-cluster --id "$i" --dir "$dir/n$i" "${peers[@]}" "${init[@]}" \
            > "$dir/n$i.log" 2>&1 &
        echo $! >> "$dir/pids"
    done
    for i in 1 2 3; do
        for _ in $(seq 100); do
            curl -sf "http://127.0.0.1:$((base + i))/status" > /dev/null && break
            sleep 0.1
        done
        curl -sf "http://127.0.0.1:$((base + i))/status"
    done
    ;;
stop)
    [ -f "$dir/pids" ] || exit 0
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$dir/pids"
    while read -r pid; do
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done < "$dir/pids"
    rm -f "$dir/pids"
    ;;
*)
    sed -n '2,9p' "$0"; exit 2 ;;
esac
