#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run-all.sh BUILD_DIR - the whole suite under pytest: the sanitized unit
# tests (one pytest case per C test), a short fuzzing run, and the
# end-to-end tests that boot real guests. pytest prints the closing summary.
set -eu
cd "$(dirname "$0")/.."
export MSB_BUILD="$(cd "${1:-build}" && pwd)"
exec python3 -m pytest -p no:cacheprovider -v -rfE --durations=40 tests/ sdk/python/tests/
