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
# first to stop at that target) says so and its executions count. Do not
# pause one (SIGSTOP) for a benchmark: libFuzzer's -timeout runs on the
# wall clock, so the unit it was on "times out" when it goes on, and the
# run ends FAILED; stop it with -INT and start it again instead.
#
# A target too slow for one sitting runs in parts:
#   MSB_FUZZ_KEEP=DIR  each target's corpus is DIR/TARGET, kept between
#                      runs, and DIR/TARGET.execs adds up the executions
#                      of every run that ended without a crash;
#   MSB_FUZZ_SECONDS=S each target stops after S seconds (libFuzzer's
#                      -max_total_time), whichever of RUNS and S is first.
#   MSB_FUZZ_JOBS=N    N processes of each target at once on the same
#                      corpus (RUNS shared out among them), for a host
#                      with N CPUs to spare: their executions add up, and
#                      a crash in any fails the target.
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
jobs=${MSB_FUZZ_JOBS:-1}
case $jobs in
''|*[!0-9]*|0) echo "MSB_FUZZ_JOBS=$jobs: a number of processes, 1 or more" >&2
	exit 2 ;;
esac
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
	# Each process in a scratch directory of its own (a crash's input
	# is written there): TARGET.cwd and TARGET.log, or with jobs
	# TARGET.cwdJ and TARGET.J.log.
	j=0
	while [ $j -lt $jobs ]; do
		sfx=
		[ $jobs -gt 1 ] && sfx=$j
		mkdir -p "$out/$t.cwd$sfx"
		(cd "$out/$t.cwd$sfx" && nice -n 10 "$OLDPWD/$b/fuzz/$t" \
			-runs=$(( (runs + jobs - 1) / jobs )) $limit \
			-rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
			"$corp" $seeds >"$out/$t.${sfx:+$sfx.}log" 2>&1
		 echo $? >"$out/$t.${sfx:+$sfx.}rc") &
		j=$((j + 1))
	done
	wait
	secs=$(( $(date +%s) - start ))
	execs=0
	result=ok
	for log in "$out/$t".*log; do
		rc=$(cat "${log%log}rc")
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		execs=$(( execs + ${n:-0} ))
		# (72: libFuzzer stopped by SIGINT without a crash, as
		# `pkill -INT -f build/fuzz/NAME` stops a run by hand; its
		# executions count like a clean run's)
		if [ "$rc" -eq 72 ] && ! grep -q '^==[0-9]*== ERROR' "$log"; then
			[ "$result" = ok ] && result="stopped by hand"
		elif [ "$rc" -ne 0 ]; then
			result="FAILED (rc $rc, see $log and $out/$t.cwd*)"
		fi
	done
	corpus=$(ls "$corp" | wc -l)
	total=-
	case $result in
	FAILED*) fail=1 ;;
	*)	if [ -n "$keep" ]; then
			total=$(( $(cat "$keep/$t.execs" 2>/dev/null || echo 0) + execs ))
			echo "$total" >"$keep/$t.execs"
		fi ;;
	esac
	printf '%-11s %12s %8s %9s %7s %12s  %s\n' "$t" "$execs" "$secs" \
		"$(( execs / (secs > 0 ? secs : 1) ))" "$corpus" "$total" "$result"
done
[ $fail = 0 ] && rm -rf "$out"
exit $fail
