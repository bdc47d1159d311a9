#!/usr/bin/env bash
# bench: how close atrium-fcgi comes to the limits of its design, measured in one run against one
# nginx (make bench). Targets, each with wrk -t2 -c64 -d10s after a short warm-up:
#   nginx   GET /nginx-static   nginx's own static reply (the baseline)
#   hello   GET /bench/hello    bench/fcgi_hello.c: bare pre-forked libfcgi, same child count
#   ping    GET /v1/ping        atrium-fcgi's route that does no I/O
#   health  GET /v1/health      atrium-fcgi asking PostgreSQL and Redis
# and prints req/s and the ratios ping/hello (aim: 0.9 or better), ping/nginx, health/nginx,
# hello/nginx. The stack is a test-profile stack in its own directory, torn down afterwards.
#   BENCH_SECONDS (10), BENCH_CONNECTIONS (64), ATRIUM_HTTP_PORT (28080), ATRIUM_HTTPS_PORT (28443)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
export ATRIUM_HTTP_PORT=${ATRIUM_HTTP_PORT:-28080}
export ATRIUM_HTTPS_PORT=${ATRIUM_HTTPS_PORT:-28443}
CHILDREN=${ATRIUM_CHILDREN:-$((2 * $(nproc)))}   # atrium-fcgi's default: 2 x cores
BASE=http://127.0.0.1:$ATRIUM_HTTP_PORT

STACK_DIR=$(mktemp -d /tmp/atrium-bench.XXXXXX)
chmod 755 "$STACK_DIR"
export STACK_DIR
HELLO_PID=

teardown() {
	[ -n "$HELLO_PID" ] && kill -TERM "$HELLO_PID" 2>/dev/null
	scripts/stack.sh stop test >/dev/null 2>&1 || echo "bench: stack stop failed ($STACK_DIR kept)" >&2
	rm -rf "$STACK_DIR"
}
trap teardown EXIT

mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Werror -o build/bench/fcgi-hello bench/fcgi_hello.c \
	$(pkg-config --cflags --libs fcgi)

# The hello location goes through the same nginx, server block and FastCGI params as /v1/.
mkdir -p "$STACK_DIR/nginx/conf/extra.d" "$STACK_DIR/run"
cat >"$STACK_DIR/nginx/conf/extra.d/bench.conf" <<CONF
location = /bench/hello {
	include /etc/nginx/fastcgi_params;
	fastcgi_param REQUEST_ID \$request_id;
	fastcgi_pass unix:$STACK_DIR/run/hello.sock;
}
CONF
setsid build/bench/fcgi-hello "$STACK_DIR/run/hello.sock" "$CHILDREN" </dev/null >"$STACK_DIR/hello.log" 2>&1 &
HELLO_PID=$!
ATRIUM_CHILDREN=$CHILDREN scripts/stack.sh start test >"$STACK_DIR/stack.out" 2>&1 ||
	{ cat "$STACK_DIR/stack.out"; exit 1; }

# Measures one path; prints its req/s. A target that answers anything but 2xx is not measured.
measure() {
	local path=$1 code out rps bad
	code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$path")
	[ "$code" = 200 ] || { echo "bench: $path answers $code, not 200" >&2; return 1; }
	wrk -t2 -c"$CONNS" -d2s "$BASE$path" >/dev/null
	out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$BASE$path")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	lat=$(awk '$1 == "Latency" { print $2; exit }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	printf '  %-8s %-16s %10s req/s   avg %-8s p99 %-8s%s\n' "$2" "$path" "$rps" "$lat" "$p99" \
		"${bad:+  ($bad non-2xx!)}" >&2
	[ -z "$bad" ] || return 1
	echo "$rps"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "bench: wrk -t2 -c$CONNS -d${SECS}s, $CHILDREN FastCGI children, $(nproc) cores, http on loopback" >&2
nginx=$(measure /nginx-static nginx)
hello=$(measure /bench/hello hello)
ping=$(measure /v1/ping ping)
health=$(measure /v1/health health)

cat <<OUT

ratio ping/hello    $(ratio "$ping" "$hello")   (aim 0.9: atrium's fixed cost per request against bare libfcgi)
ratio ping/nginx    $(ratio "$ping" "$nginx")
ratio health/nginx  $(ratio "$health" "$nginx")
ratio hello/nginx   $(ratio "$hello" "$nginx")   (the ceiling of the FastCGI design on this machine)
OUT
ATRIUM_HTTP_PORT=28180 ATRIUM_HTTPS_PORT=28543 ATRIUM_PG_PORT=54380 STACK_DIR= bench/secrets.sh
ATRIUM_HTTP_PORT=28280 ATRIUM_HTTPS_PORT=28643 ATRIUM_PG_PORT=54390 STACK_DIR= bench/uploads.sh
ATRIUM_HTTP_PORT=28380 ATRIUM_HTTPS_PORT=28743 ATRIUM_PG_PORT=54395 STACK_DIR= bench/media.sh
ATRIUM_HTTP_PORT=28480 ATRIUM_HTTPS_PORT=28843 ATRIUM_PG_PORT=54396 STACK_DIR= bench/webhooks.sh
bench/thumbs.sh
