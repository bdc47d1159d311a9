#!/usr/bin/env bash
# test: runs every suite against an isolated stack (make test). The stack lives in a fresh
# directory under /tmp with its own sockets and ports, so it runs beside `make run`, and is torn
# down on exit whatever happened. Prints `suite NAME: N passed, M failed[, K skipped]` per suite
# and last `N passed, M failed`; exits non-zero if anything failed or a suite could not run.
#
#   SUITES="unit api"   run only these suites (default: all, in the order below)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STACK=scripts/stack.sh
ALL_SUITES="unit asan api browser reliability stack systemd nginx fuzz"
SUITES=${SUITES:-$ALL_SUITES}

TOTAL_PASS=0
TOTAL_FAIL=0
STACK_OK=0
FAILED_SUITES=()

STACK_DIR=$(mktemp -d /tmp/atrium-test.XXXXXX)
chmod 755 "$STACK_DIR"
export STACK_DIR
LOGS="$STACK_DIR/log"      # service logs (stack.sh)
OUT="$STACK_DIR/out"       # what each suite printed

# On failure, the logs say why: tail every service log before the directory goes.
show_logs() {
	local f
	for f in "$LOGS"/*.log "$STACK_DIR/nginx/logs/error.log"; do
		[ -s "$f" ] || continue
		printf '\n--- tail of %s\n' "${f#"$STACK_DIR"/}"
		tail -n 30 "$f"
	done
}

DONE=0

teardown() {
	local rc=$?
	trap - EXIT INT TERM
	[ "$DONE" -eq 1 ] || show_logs
	"$STACK" stop test >"$STACK_DIR/stack-stop.out" 2>&1 || { cat "$STACK_DIR/stack-stop.out" >&2; rc=1; }
	rm -rf "$STACK_DIR"
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Records one suite's result and prints its line.
report() {
	local name=$1 pass=$2 fail=$3 skip=${4:-0} line
	line="suite $name: $pass passed, $fail failed"
	[ "$skip" -gt 0 ] && line="$line, $skip skipped"
	echo "$line"
	TOTAL_PASS=$((TOTAL_PASS + pass))
	TOTAL_FAIL=$((TOTAL_FAIL + fail))
	[ "$fail" -gt 0 ] && FAILED_SUITES+=("$name")
	return 0
}

skipped() { echo "suite $1: SKIPPED — $2"; }

# A suite that could not run at all counts as one failure.
broken() {
	echo "suite $1: COULD NOT RUN — $2"
	report "$1" 0 1
}

# --- unit and asan: cmocka binaries -----------------------------------------------------------

# Runs every cmocka binary given; adds up cmocka's own PASSED / FAILED / SKIPPED counts. A binary
# that dies before its summary (crash, sanitizer report) counts as one failure.
run_cmocka() {
	local name=$1 dir=$2 t out rc p f s pass=0 fail=0 skip=0 n=0
	for t in "$dir"/test_*; do
		[ -x "$t" ] || continue
		n=$((n + 1))
		out="$OUT/$name-${t##*/}.out"
		timeout 120 "$t" >"$out" 2>&1
		rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
		s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
		pass=$((pass + ${p:-0}))
		skip=$((skip + ${s:-0}))
		if [ -n "$f" ]; then
			fail=$((fail + f))
		elif [ "$rc" -ne 0 ]; then
			fail=$((fail + 1))
		fi
		if [ "$rc" -ne 0 ]; then
			printf -- '--- %s (exit %d):\n' "$t" "$rc"
			grep -v -E '^\[ (RUN|      OK) ' "$out" | tail -n 40
		fi
	done
	if [ "$n" -eq 0 ]; then
		skipped "$name" "no test binaries in $dir"
		return 0
	fi
	report "$name" "$pass" "$fail" "$skip"
}

suite_unit() {
	[ -n "$(ls tests/unit/test_*.c 2>/dev/null)" ] || { skipped unit "no tests/unit/test_*.c"; return; }
	make --no-print-directory units >"$OUT/unit-build.log" 2>&1 ||
		{ tail -n 30 "$OUT/unit-build.log"; broken unit "make units failed"; return; }
	run_cmocka unit build/tests
}

suite_asan() {
	[ -n "$(ls tests/unit/test_*.c 2>/dev/null)" ] || { skipped asan "no tests/unit/test_*.c"; return; }
	make --no-print-directory SANITIZE=1 units >"$OUT/asan-build.log" 2>&1 ||
		{ tail -n 30 "$OUT/asan-build.log"; broken asan "make SANITIZE=1 units failed"; return; }
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_cmocka asan build-asan/tests
}

# --- api and reliability: pytest through the real stack ---------------------------------------

# Runs pytest on a directory and reads its summary line ("3 passed, 1 failed, 2 skipped in 1.2s").
run_pytest() {
	local name=$1 dir=$2 out rc summary p f e s
	if [ -z "$(find "$dir" -name 'test_*.py' 2>/dev/null)" ]; then
		skipped "$name" "no test_*.py in $dir"
		return 0
	fi
	[ "$STACK_OK" -eq 1 ] || { broken "$name" "the test stack did not start"; return 0; }
	out="$OUT/$name-pytest.out"
	/usr/bin/python3 -m pytest -q -p no:cacheprovider -rfE "$dir" >"$out" 2>&1
	rc=$?
	summary=$(grep -aE '^=*.*[0-9]+ (passed|failed|error|errors|skipped)|no tests ran' "$out" | tail -n 1)   # -a: a failure may print binary bodies
	p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+')
	f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+')
	e=$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+')
	s=$(grep -oE '[0-9]+ skipped' <<<"$summary" | grep -oE '[0-9]+')
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$out" | cat -v | cut -c1-400     # binary bodies stay readable
	fi
	if [ -z "$summary" ] || { [ "$rc" -ne 0 ] && [ $(( ${f:-0} + ${e:-0} )) -eq 0 ]; }; then
		broken "$name" "pytest exited $rc without a test failure (collection or usage error)"
		return 0
	fi
	report "$name" "${p:-0}" $(( ${f:-0} + ${e:-0} )) "${s:-0}"
}

suite_api() { run_pytest api tests/api; }

# browser: web/ pages in the system Chromium through playwright-core (tests/browser drives it with
# node from pytest). Without Chromium, node or playwright-core nothing can run: SKIPPED, loudly.
suite_browser() {
	local chromium=${CHROMIUM:-/usr/bin/chromium}
	if [ ! -x "$chromium" ]; then
		skipped browser "$chromium is missing (scripts/deps.sh installs chromium): the upload page is NOT tested"
		return
	fi
	if ! command -v node >/dev/null || [ ! -d node_modules/playwright-core ]; then
		skipped browser "node or node_modules/playwright-core is missing (npm ci): the upload page is NOT tested"
		return
	fi
	run_pytest browser tests/browser
}
suite_reliability() { run_pytest reliability tests/reliability; }
suite_stack() { run_pytest stack tests/stack; }

# --- systemd: systemd-analyze verify in a scratch root ----------------------------------------

# Units name /usr/local/bin/<binary>: the scratch root gets copies of the built binaries there,
# the distribution's units (for sysinit.target and friends) and this machine's users. A unit
# passes when verify exits 0 and says nothing (unknown keys are only warnings, still mistakes).
suite_systemd() {
	local r u out exe pass=0 fail=0 n=0
	r=$(mktemp -d "$STACK_DIR/sdroot.XXXXXX")
	mkdir -p "$r/etc/systemd/system" "$r/usr/local/bin" "$r/usr/lib/systemd"
	cp -a /usr/lib/systemd/system "$r/usr/lib/systemd/"
	cp /etc/passwd /etc/group "$r/etc/"
	cp systemd/*.service systemd/*.socket systemd/*.target "$r/etc/systemd/system/" 2>/dev/null
	for exe in $(sed -n 's#^ExecStart=-\{0,1\}/usr/local/bin/\([^ ]*\).*#\1#p' systemd/*.service); do
		[ -x "build/$exe" ] && cp "build/$exe" "$r/usr/local/bin/"
	done
	for u in systemd/*.service systemd/*.socket systemd/*.target; do
		[ -f "$u" ] || continue
		n=$((n + 1))
		out=$(systemd-analyze verify --root="$r" --man=no "$r/etc/systemd/system/${u##*/}" 2>&1)
		if [ $? -eq 0 ] && [ -z "$out" ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			printf -- '--- systemd-analyze verify %s:\n%s\n' "$u" "$out"
		fi
	done
	# every binary the stack runs has a unit that runs it, and atrium.target wants that unit
	for exe in build/atrium-*; do
		[ -x "$exe" ] || continue
		n=$((n + 1))
		u=systemd/${exe##*/}.service
		if grep -q "^ExecStart=-\{0,1\}/usr/local/bin/${exe##*/}\b" "$u" 2>/dev/null &&
			grep -q "^Wants=.*\b${exe##*/}\.service\b" systemd/atrium.target; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			printf -- '--- %s has no unit %s running it, or atrium.target does not want it\n' "$exe" "$u"
		fi
	done
	# the tmpfiles.d config must be there (a *.d ignore rule once kept it out of git unnoticed)
	if ! compgen -G 'systemd/tmpfiles.d/*.conf' >/dev/null; then
		n=$((n + 1)) fail=$((fail + 1))
		echo "--- systemd/tmpfiles.d has no .conf: the directories of production are not declared"
	fi
	for u in systemd/tmpfiles.d/*.conf; do
		[ -f "$u" ] || continue
		n=$((n + 1))
		out=$(systemd-tmpfiles --root="$r" --create "$ROOT/$u" 2>&1)
		if [ $? -eq 0 ] && [ -z "$out" ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			printf -- '--- systemd-tmpfiles --create %s:\n%s\n' "$u" "$out"
		fi
	done
	[ "$n" -gt 0 ] || { skipped systemd "no units in systemd/"; return; }
	report systemd "$pass" "$fail"
}

# --- nginx: nginx -t on the rendered dev config and on production.conf ------------------------

# production.conf names the paths of a production host; the check maps them into a scratch prefix.
nginx_prod_check() {
	local t="$STACK_DIR/nginx-prod"
	mkdir -p "$t/conf/snippets/atrium" "$t/logs" "$t/tmp" "$t/run" "$t/tls"
	cp nginx/snippets/*.conf "$t/conf/snippets/atrium/"
	cp "$STACK_DIR/tls/cert.pem" "$STACK_DIR/tls/key.pem" "$t/tls/"
	sed -e "s#/etc/atrium/tls/#$t/tls/#g" -e "s#/run/atrium/#$t/run/#g" \
		-e "s#/usr/share/atrium/web#$ROOT/web#g" -e "s#/usr/share/atrium/node_modules#$ROOT/node_modules#g" \
		-e "s#/var/log/nginx/#$t/logs/#g" \
		-e "s#/run/nginx.pid#$t/logs/nginx.pid#g" -e "s#/var/lib/nginx/#$t/tmp/#g" \
		nginx/production.conf >"$t/conf/nginx.conf"
	nginx -t -q -p "$t/" -c conf/nginx.conf -e logs/error.log 2>&1
}

suite_nginx() {
	local pass=0 fail=0 out
	out=$(nginx -t -q -p "$STACK_DIR/nginx/" -c conf/nginx.conf -e logs/error.log 2>&1)
	if [ $? -eq 0 ] && [ -f "$STACK_DIR/nginx/conf/nginx.conf" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf -- '--- nginx -t (dev):\n%s\n' "$out"
	fi
	if out=$(nginx_prod_check); then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf -- '--- nginx -t (production):\n%s\n' "$out"
	fi
	report nginx "$pass" "$fail"
}

# --- fuzz: libFuzzer targets, briefly ---------------------------------------------------------

suite_fuzz() {
	local out pass fail
	if [ -z "$(ls tests/fuzz/fuzz_*.c 2>/dev/null)" ]; then
		skipped fuzz "no tests/fuzz/fuzz_*.c targets"
		return
	fi
	out="$OUT/fuzz.out"
	FUZZ_SECONDS=10 scripts/fuzz.sh >"$out" 2>&1
	pass=$(grep -c '^fuzz .*: ok' "$out")
	fail=$(grep -c '^fuzz .*: FAILED' "$out")
	if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
		tail -n 30 "$out"
		broken fuzz "scripts/fuzz.sh ran no target"
		return
	fi
	[ "$fail" -gt 0 ] && grep -A 30 '^fuzz .*: FAILED' "$out" | head -n 80
	report fuzz "$pass" "$fail"
}

# --- main -------------------------------------------------------------------------------------

start_stack() {
	if "$STACK" start test >"$STACK_DIR/stack-start.out" 2>&1; then
		STACK_OK=1
		set -a
		. "$STACK_DIR/stack.env"
		set +a
	else
		cat "$STACK_DIR/stack-start.out"
		broken stack-start "scripts/stack.sh start test failed"
	fi
}

main() {
	local s started=0
	mkdir -p "$LOGS" "$OUT"
	for s in $SUITES; do
		case " $ALL_SUITES " in *" $s "*) ;; *) echo "unknown suite $s (have: $ALL_SUITES)"; exit 2 ;; esac
		case "$s" in
		api|browser|reliability|stack|nginx)
			if [ "$started" -eq 0 ]; then
				start_stack
				started=1
			fi
			;;
		esac
		"suite_$s"
	done
	if [ "$TOTAL_FAIL" -gt 0 ]; then
		show_logs
		echo
		echo "failed suites: ${FAILED_SUITES[*]}"
	fi
	DONE=1
	echo
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
	[ "$TOTAL_FAIL" -eq 0 ]
}

main
