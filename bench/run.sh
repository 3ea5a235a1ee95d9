#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run.sh [BUILD_DIR] - the boot, exec, start, network, filesystem,
# confinement, TLS, snapshot, project, SDK, sync and pull benchmarks (not
# tests): prints tables.
set -eu
cd "$(dirname "$0")/.."
b=${1:-build}
[ $# -gt 0 ] && shift
python3 bench/boot_exec.py "$b" "$@"
python3 bench/net.py "$b"
python3 bench/fs.py "$b"
python3 bench/fscycle.py "$b"
python3 bench/density.py "$b"
python3 bench/tcgcache.py "$b"
python3 bench/exec.py "$b"
python3 bench/start.py /bin/true "$b/bin/msb --version"
python3 bench/confine.py "$b"
if [ "$(id -u)" = 0 ]; then
	python3 bench/tls.py "$b"
else
	echo "bench/tls.py: skipped (its fake internet needs root)"
fi
python3 bench/snapshot.py "$b"
python3 bench/project.py "$b"
python3 bench/sdk.py "$b"
python3 bench/boot_reliability.py "$b"
python3 bench/sync.py "$b"
python3 bench/spawn.py "$b"
python3 bench/shim.py "$b"
exec python3 bench/pull.py "$b"
