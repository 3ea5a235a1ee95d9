#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run.sh [BUILD_DIR] - the boot and exec benchmarks (not tests): prints tables.
set -eu
cd "$(dirname "$0")/.."
exec python3 bench/boot_exec.py "${1:-build}" "$@"
