#!/usr/bin/env bash
# Installs logstore's C library for C and C++ programs:
#   PREFIX/lib/liblogstore.so, PREFIX/lib/liblogstore.a
#   PREFIX/include/logstore.h, PREFIX/include/logstore.hpp
#   PREFIX/lib/pkgconfig/logstore.pc
#   PREFIX/lib/cmake/logstore/logstoreConfig.cmake (+ ConfigVersion)
#
# Usage: scripts/install.sh [PREFIX]      (default /usr/local)
# It builds the library in release mode first, unless LOGSTORE_LIB_DIR names
# a directory that already holds liblogstore_ffi.so and liblogstore_ffi.a.
set -euo pipefail

prefix="${1:-/usr/local}"
crate_dir="$(cd "$(dirname "$0")/.." && pwd)"
manifest="$crate_dir/Cargo.toml"

metadata="$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest")"
field() { python3 -c "import json,sys; m=json.load(sys.stdin); print($1)" <<<"$metadata"; }
version="$(field "[p['version'] for p in m['packages'] if p['name']=='logstore-ffi'][0]")"

if [[ -n "${LOGSTORE_LIB_DIR:-}" ]]; then
    lib_dir="$LOGSTORE_LIB_DIR"
else
    cargo build --release -p logstore-ffi --manifest-path "$manifest"
    lib_dir="$(field "m['target_directory']")/release"
fi

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/logstore" "$prefix/include"
install -m 0755 "$lib_dir/liblogstore_ffi.so" "$prefix/lib/liblogstore.so"
install -m 0644 "$lib_dir/liblogstore_ffi.a" "$prefix/lib/liblogstore.a"
install -m 0644 "$crate_dir/include/logstore.h" "$crate_dir/include/logstore.hpp" "$prefix/include/"

fill() { sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$1" >"$2"; }
fill "$crate_dir/cmake/logstore.pc.in" "$prefix/lib/pkgconfig/logstore.pc"
fill "$crate_dir/cmake/logstoreConfig.cmake.in" "$prefix/lib/cmake/logstore/logstoreConfig.cmake"
fill "$crate_dir/cmake/logstoreConfigVersion.cmake.in" \
    "$prefix/lib/cmake/logstore/logstoreConfigVersion.cmake"

echo "installed logstore $version under $prefix"
