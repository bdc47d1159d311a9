#!/usr/bin/env bash
# bench/uploads: a 1 GiB file through nginx with tus (POST + PATCHes of 50 MiB to /v1/uploads: nginx
# spools, atrium renames each part, the last chunk assembles and checks the file) as a ratio of
# nginx spooling the same chunks alone (a location that spools with client_body_in_file_only and
# answers from bare libfcgi), measured in the same run; @tus/server (FileStore) on the same chunks
# for comparison. BENCH_MB (1024), BENCH_CHUNK_MB (50), ATRIUM_HTTP_PORT (28280).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MB=${BENCH_MB:-1024}
CHUNK_MB=${BENCH_CHUNK_MB:-50}
export ATRIUM_HTTP_PORT=${ATRIUM_HTTP_PORT:-28280}
export ATRIUM_HTTPS_PORT=${ATRIUM_HTTPS_PORT:-28643}
export ATRIUM_PG_PORT=${ATRIUM_PG_PORT:-54390}
BASE=http://127.0.0.1:$ATRIUM_HTTP_PORT
TUS_PORT=$((ATRIUM_HTTP_PORT + 7))
STACK_DIR=$(mktemp -d /tmp/atrium-bench-up.XXXXXX)
chmod 755 "$STACK_DIR"
export STACK_DIR
HELLO_PID= TUS_PID=
teardown() {
	[ -n "$HELLO_PID" ] && kill -TERM "$HELLO_PID" 2>/dev/null
	[ -n "$TUS_PID" ] && kill -TERM "$TUS_PID" 2>/dev/null
	scripts/stack.sh stop test >/dev/null 2>&1 || echo "bench: stack stop failed ($STACK_DIR kept)" >&2
	rm -rf "$STACK_DIR"
}
trap teardown EXIT
mkdir -p build/bench "$STACK_DIR/nginx/conf/extra.d" "$STACK_DIR/run" "$STACK_DIR/chunks" "$STACK_DIR/tusd"
cc -std=c11 -D_GNU_SOURCE -O2 -o build/bench/fcgi-hello bench/fcgi_hello.c $(pkg-config --cflags --libs fcgi)
cat >"$STACK_DIR/nginx/conf/extra.d/bench-spool.conf" <<CONF
location = /bench/spool {
	client_max_body_size ${CHUNK_MB}m;
	client_body_in_file_only clean;
	client_body_temp_path tmp/upload 1;
	fastcgi_pass_request_body off;
	include /etc/nginx/fastcgi_params;
	fastcgi_param ATRIUM_BODY_FILE \$request_body_file;
	fastcgi_pass unix:$STACK_DIR/run/hello.sock;
}
CONF
setsid build/bench/fcgi-hello "$STACK_DIR/run/hello.sock" 2 </dev/null >"$STACK_DIR/hello.log" 2>&1 &
HELLO_PID=$!
scripts/stack.sh start test >"$STACK_DIR/stack.out" 2>&1 || { cat "$STACK_DIR/stack.out"; exit 1; }
KEY=$(cat "$STACK_DIR/owner-api-key")

# The file: a PNG signature, then random bytes (libmagic reads only the head), cut in chunks.
{ printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89'
  head -c $((MB * 1024 * 1024 - 33)) /dev/urandom; } >"$STACK_DIR/file"
SIZE=$(stat -c %s "$STACK_DIR/file")
split -b "${CHUNK_MB}M" -d -a 3 "$STACK_DIR/file" "$STACK_DIR/chunks/c"
sync
now() { date +%s.%N; }
rate() { awk -v b="$SIZE" -v s="$1" -v e="$2" 'BEGIN { printf "%.0f", b / (e - s) / 1e6 }'; }

spool() {
	local c
	for c in "$STACK_DIR"/chunks/c*; do
		curl -sf -o /dev/null -X POST -H 'Content-Type: application/octet-stream' \
			--data-binary "@$c" "$BASE/bench/spool"
	done
}

# tus: creation, then each chunk at its offset; $1 = endpoint, $2.. = extra curl args
tus() {
	local ep=$1 loc off=0 c
	shift
	loc=$(curl -sf -D - -o /dev/null -X POST -H 'Tus-Resumable: 1.0.0' "$@" \
		-H "Upload-Length: $SIZE" -H "Upload-Metadata: filename $(printf bench.png | base64)" "$ep" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	case "$loc" in http*) ;; *) loc="${ep%%/v1/*}$loc" ;; esac
	case "$ep" in */files) loc=$(sed "s#^/#http://127.0.0.1:$TUS_PORT/#" <<<"$loc") ;; esac
	for c in "$STACK_DIR"/chunks/c*; do
		curl -sf -o /dev/null -X PATCH -H 'Tus-Resumable: 1.0.0' "$@" \
			-H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $off" \
			--data-binary "@$c" "$loc" || { echo "bench: PATCH at $off failed" >&2; return 1; }
		off=$((off + $(stat -c %s "$c")))
	done
}

echo "bench: ${MB} MiB in ${CHUNK_MB} MiB chunks over loopback http, $(nproc) cores" >&2
spool                                   # warm-up: page cache, nginx temp dirs
t0=$(now); spool; t1=$(now)
t2=$(now); tus "$BASE/v1/uploads" -H "Authorization: Bearer $KEY"; t3=$(now)
nginx_rate=$(rate "$t0" "$t1")
atrium_rate=$(rate "$t2" "$t3")
tus_line="@tus/server  not measured (node_modules/@tus/server missing)"
if [ -d node_modules/@tus/server ] && command -v node >/dev/null; then
	node bench/tus_server.mjs "$TUS_PORT" "$STACK_DIR/tusd" >"$STACK_DIR/tus.log" 2>&1 &
	TUS_PID=$!
	for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$TUS_PORT/files" && break; sleep 0.1; done
	t4=$(now); tus "http://127.0.0.1:$TUS_PORT/files"; t5=$(now)
	tusd_rate=$(rate "$t4" "$t5")
	tus_line="@tus/server  $tusd_rate MB/s   ratio $(awk -v a="$tusd_rate" -v b="$nginx_rate" 'BEGIN { printf "%.2f", a / b }') of the nginx spool"
fi
cat <<OUT
nginx spool  $nginx_rate MB/s   (baseline: the same chunks spooled to disk by nginx alone)
atrium tus   $atrium_rate MB/s
ratio tus/spool  $(awk -v a="$atrium_rate" -v b="$nginx_rate" 'BEGIN { printf "%.2f", a / b }')   (aim 0.8; each PATCH fsyncs its part before it answers, the spool baseline never waits for the disk)
$tus_line
OUT
