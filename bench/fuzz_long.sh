#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fuzz_long.sh [BUILD_DIR] [RUNS] [TARGET...] - every libFuzzer target in
# fuzz/ for RUNS executions each (default 10 million), not in CI: the
# short runs are in tests/test_unit.py. Each starts from its seed corpus
# (fuzz/corpus/NAME, when there is one) and a scratch corpus of its own;
# a crash stops that target and leaves its input in the scratch directory.
# Prints one line per target: executions, seconds, executions a second,
# corpus size and the result, and exits 1 if any target failed.
#
#   make fuzz && bench/fuzz_long.sh build 10000000
#   bench/fuzz_long.sh build 1000000 net fuse     # a shorter run of two
set -u
cd "$(dirname "$0")/.."
b=${1:-build}
runs=${2:-10000000}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
make -s B="$b" fuzz >/dev/null || exit 1
# Every target the Makefile builds (its FUZZ list), unless named.
targets=${*:-$(ls "$b/fuzz")}
out=$(mktemp -d "${TMPDIR:-/tmp}/msb-fuzz-long-XXXXXX")
fail=0
printf '%-11s %12s %8s %9s %7s  %s\n' target execs seconds "execs/s" corpus result
for t in $targets; do
	mkdir -p "$out/$t"
	seeds=
	[ -d "fuzz/corpus/$t" ] && seeds="$PWD/fuzz/corpus/$t"
	# (tarstream reads the unpacker's layers)
	[ "$t" = tarstream ] && seeds="$PWD/fuzz/corpus/unpack"
	start=$(date +%s)
	(cd "$out/$t" && nice -n 10 "$OLDPWD/$b/fuzz/$t" -runs="$runs" \
		-rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
		"$out/$t" $seeds >"$out/$t.log" 2>&1)
	rc=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	execs=${execs:-0}
	corpus=$(ls "$out/$t" | grep -vc '^crash-\|^leak-\|^timeout-\|^oom-')
	if [ $rc -eq 0 ]; then
		result=ok
	else
		result="FAILED (rc $rc, see $out/$t.log)"
		fail=1
	fi
	printf '%-11s %12s %8s %9s %7s  %s\n' "$t" "$execs" "$secs" \
		"$(( execs / (secs > 0 ? secs : 1) ))" "$corpus" "$result"
done
[ $fail = 0 ] && rm -rf "$out"
exit $fail
