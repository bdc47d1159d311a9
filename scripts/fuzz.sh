#!/usr/bin/env bash
# fuzz: builds every libFuzzer target tests/fuzz/fuzz_*.c against lib/, services/ and fcgi/
# (clang, ASan + UBSan) into build-fuzz/, and runs each for FUZZ_SECONDS (make fuzz: 60; make test:
# 10) over its seed corpus tests/fuzz/corpus/<target>/. Prints `fuzz TARGET: ok|FAILED ...` per
# target, then `fuzz: N passed, M failed` last, and exits non-zero if any target crashed, leaked,
# hung or failed to build.
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-10}
OUT=build-fuzz
PKGS="fcgi hiredis libpq json-c libcurl libmagic openssl"
CC=clang
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Iinclude $(pkg-config --cflags $PKGS)"
LDLIBS="$(pkg-config --libs $PKGS) -lm"

targets=$(ls tests/fuzz/fuzz_*.c 2>/dev/null)
if [ -z "$targets" ]; then
	echo "fuzz: no targets in tests/fuzz/fuzz_*.c: nothing to do"
	exit 0
fi
mkdir -p "$OUT/obj" "$OUT/corpus" "$OUT/artifacts"

# Code under test: everything but the files that define main (libFuzzer brings its own). An
# object is rebuilt when its source or any header is newer.
build_lib() {
	local src obj newest objs=()
	newest=$(ls -t include/*.h | head -n 1)
	for src in lib/*.c services/*.c fcgi/*.c; do
		[ -f "$src" ] || continue
		grep -q -E '^int[[:space:]]+main[[:space:]]*\(' "$src" && continue
		obj="$OUT/obj/${src%.c}.o"
		mkdir -p "$(dirname "$obj")"
		if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest" -nt "$obj" ]; then
			# a file that does not build (someone's work in progress) fails only the targets
			# that link it, not every target
			if ! $CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$obj" "$src"; then
				echo "fuzz: warning: $src does not build with clang; left out"
				rm -f "$obj"
				continue
			fi
		fi
		objs+=("$obj")
	done
	rm -f "$OUT/libatrium-fuzz.a"
	ar rcs "$OUT/libatrium-fuzz.a" "${objs[@]}"
}

# Runs one target; libFuzzer exits non-zero on a crash, leak, timeout or sanitizer report.
run_target() {
	local src=$1 name bin seeds work log
	name=$(basename "$src" .c)
	bin="$OUT/$name"
	log="$OUT/$name.log"
	if ! $CC $CFLAGS $SAN -fsanitize=fuzzer -o "$bin" "$src" "$OUT/libatrium-fuzz.a" $LDLIBS >"$log" 2>&1; then
		echo "fuzz $name: FAILED (does not build)"
		cat "$log"
		return 1
	fi
	seeds=tests/fuzz/corpus/$name
	work=$OUT/corpus/$name
	mkdir -p "$work"
	# shellcheck disable=SC2046
	if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/artifacts/$name-" "$work" $([ -d "$seeds" ] && echo "$seeds") >"$log" 2>&1; then
		echo "fuzz $name: ok ($(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1) runs in ${SECONDS_EACH}s)"
		return 0
	fi
	echo "fuzz $name: FAILED (crash input in $OUT/artifacts/$name-*)"
	grep -E -A 25 'ERROR: |runtime error|==[0-9]+==' "$log" | head -n 60
	return 1
}

pass=0
fail=0
if ! build_lib; then
	echo "fuzz: FAILED (no library objects)"
	echo "fuzz: 0 passed, $(echo "$targets" | wc -w) failed"
	exit 1
fi
for t in $targets; do
	if run_target "$t"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
