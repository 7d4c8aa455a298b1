#!/usr/bin/env bash
# Installs what the peer stores need (Debian/Ubuntu), builds the benchmark
# with every peer and runs it; arguments are passed to the benchmark, e.g.
#   crates/logstore-bench/run-peers.sh --runs 2 --out docs/bench
# RocksDB is linked from the distribution's librocksdb-dev (the rocksdb
# crate 0.20.1 matches RocksDB 7.8): compiling it from C++ source would
# take many minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

if command -v apt-get >/dev/null && ! dpkg -s libclang-dev librocksdb-dev >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y libclang-dev librocksdb-dev
fi

multiarch="$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)"
export ROCKSDB_LIB_DIR="/usr/lib/${multiarch}"
export ROCKSDB_INCLUDE_DIR="/usr/include"

cargo build --release -p logstore-bench --features peers
exec target/release/logstore-bench "$@"
