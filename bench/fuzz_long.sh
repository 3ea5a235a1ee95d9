#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fuzz_long.sh [BUILD_DIR] [RUNS] [TARGET...] - every libFuzzer target in
# fuzz/ for RUNS executions each (default 10 million), not in CI: the
# short runs are in tests/test_unit.py. Each starts from its seed corpus
# (fuzz/corpus/NAME, when there is one) and a scratch corpus of its own;
# a crash stops that target and leaves its input in the scratch directory.
# Prints one line per target: executions, seconds, executions a second,
# corpus size, the executions of all its runs kept (below) and the
# result, and exits 1 if any target failed.
#
# A run stopped by hand (`pkill -INT -f build/fuzz/NAME`; kill the script
# first to stop at that target) says so and its executions count.
#
# A target too slow for one sitting runs in parts:
#   MSB_FUZZ_KEEP=DIR  each target's corpus is DIR/TARGET, kept between
#                      runs, and DIR/TARGET.execs adds up the executions
#                      of every run that ended without a crash;
#   MSB_FUZZ_SECONDS=S each target stops after S seconds (libFuzzer's
#                      -max_total_time), whichever of RUNS and S is first.
#
#   make fuzz && bench/fuzz_long.sh build 10000000
#   bench/fuzz_long.sh build 1000000 net fuse     # a shorter run of two
#   MSB_FUZZ_KEEP=~/.cache/microsandbox/fuzz MSB_FUZZ_SECONDS=3600 \
#       bench/fuzz_long.sh build 10000000 net     # an hour more of net
set -u
cd "$(dirname "$0")/.."
b=${1:-build}
runs=${2:-10000000}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
keep=${MSB_FUZZ_KEEP:-}
limit=
[ -n "${MSB_FUZZ_SECONDS:-}" ] && limit="-max_total_time=$MSB_FUZZ_SECONDS"
make -s B="$b" fuzz >/dev/null || exit 1
# Every target the Makefile builds (its FUZZ list), unless named.
targets=${*:-$(ls "$b/fuzz")}
out=$(mktemp -d "${TMPDIR:-/tmp}/msb-fuzz-long-XXXXXX")
fail=0
printf '%-11s %12s %8s %9s %7s %12s  %s\n' target execs seconds "execs/s" \
	corpus "kept total" result
for t in $targets; do
	corp="$out/$t"
	[ -n "$keep" ] && corp="$keep/$t"
	mkdir -p "$corp"
	seeds=
	[ -d "fuzz/corpus/$t" ] && seeds="$PWD/fuzz/corpus/$t"
	# (tarstream reads the unpacker's layers)
	[ "$t" = tarstream ] && seeds="$PWD/fuzz/corpus/unpack"
	start=$(date +%s)
	# (in the scratch directory: a crash's input is written there)
	mkdir -p "$out/$t.cwd"
	(cd "$out/$t.cwd" && nice -n 10 "$OLDPWD/$b/fuzz/$t" -runs="$runs" \
		$limit -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
		"$corp" $seeds >"$out/$t.log" 2>&1)
	rc=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	execs=${execs:-0}
	corpus=$(ls "$corp" | wc -l)
	total=-
	# (72: libFuzzer stopped by SIGINT without a crash, as
	# `pkill -INT -f build/fuzz/NAME` stops a run by hand; its
	# executions count like a clean run's)
	if [ $rc -eq 0 ] || { [ $rc -eq 72 ] &&
		! grep -q '^==[0-9]*== ERROR' "$out/$t.log"; }; then
		result=ok
		[ $rc -eq 72 ] && result="stopped by hand"
		if [ -n "$keep" ]; then
			total=$(( $(cat "$keep/$t.execs" 2>/dev/null || echo 0) + execs ))
			echo "$total" >"$keep/$t.execs"
		fi
	else
		result="FAILED (rc $rc, see $out/$t.log and $out/$t.cwd)"
		fail=1
	fi
	printf '%-11s %12s %8s %9s %7s %12s  %s\n' "$t" "$execs" "$secs" \
		"$(( execs / (secs > 0 ? secs : 1) ))" "$corpus" "$total" "$result"
done
[ $fail = 0 ] && rm -rf "$out"
exit $fail
