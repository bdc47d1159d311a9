#!/usr/bin/env bash
# bench/media: uploaded assets per second through atrium-media — the whole job as the stack runs
# it: claim, clamd scan, the forked pipeline (libmagic, libvips: re-encoded original, preview,
# thumb), variants moved into storage, state and event committed — as a ratio of vipsthumbnail -s
# 256 on the same files in one process, measured in the same run (atrium-media is one process:
# one lane each). The files are uploaded with tus while atrium-media is stopped (SIGSTOP), so the
# clock covers only the worker. BENCH_MEDIA_N (16) copies of tests/fixtures/media/photo12mp.jpg
# (12 MP); ATRIUM_HTTP_PORT (28380).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${BENCH_MEDIA_N:-16}
export ATRIUM_HTTP_PORT=${ATRIUM_HTTP_PORT:-28380}
export ATRIUM_HTTPS_PORT=${ATRIUM_HTTPS_PORT:-28743}
export ATRIUM_PG_PORT=${ATRIUM_PG_PORT:-54395}
BASE=http://127.0.0.1:$ATRIUM_HTTP_PORT
SRC=$ROOT/tests/fixtures/media/photo12mp.jpg
STACK_DIR=$(mktemp -d /tmp/atrium-bench-media.XXXXXX)
chmod 755 "$STACK_DIR"
export STACK_DIR
MEDIA_PID=
teardown() {
	[ -n "$MEDIA_PID" ] && kill -CONT "$MEDIA_PID" 2>/dev/null
	scripts/stack.sh stop test >/dev/null 2>&1 || echo "bench: stack stop failed ($STACK_DIR kept)" >&2
	rm -rf "$STACK_DIR"
}
trap teardown EXIT
scripts/stack.sh start test >"$STACK_DIR/stack.out" 2>&1 || { cat "$STACK_DIR/stack.out"; exit 1; }
KEY=$(cat "$STACK_DIR/owner-api-key")
set -a && . "$STACK_DIR/stack.env" && set +a

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", n / (b - a) }'; }
ready() { psql -qtA -U postgres -d atrium -c "SELECT count(*) FROM media_assets WHERE state IN ('ready', 'rejected')"; }

# Baseline: vipsthumbnail on the same N files, one process.
mkdir -p "$STACK_DIR/bench/in" "$STACK_DIR/bench/out"
for i in $(seq 1 "$N"); do cp "$SRC" "$STACK_DIR/bench/in/$i.jpg"; done
t0=$(now)
vipsthumbnail -s 256 -o "$STACK_DIR/bench/out/%s.jpg" "$STACK_DIR/bench/in"/*.jpg
vips_rate=$(rate "$N" "$t0" "$(now)")

# The worker: N uploads queued while it is stopped, then the time until all are final.
MEDIA_PID=$(cat "$STACK_DIR/run/atrium-media.pid")
kill -STOP "$MEDIA_PID"
meta="filename $(printf 'photo.jpg' | base64)"
for i in $(seq 1 "$N"); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/v1/uploads" \
		-H "Authorization: Bearer $KEY" -H 'Tus-Resumable: 1.0.0' \
		-H "Upload-Length: $(stat -c %s "$SRC")" -H "Upload-Metadata: $meta" \
		-H 'Content-Type: application/offset+octet-stream' --data-binary @"$SRC")
	[ "$code" = 201 ] || { echo "bench: upload answered $code" >&2; exit 1; }
done
t0=$(now)
kill -CONT "$MEDIA_PID"
MEDIA_PID=
until [ "$(ready)" -ge "$N" ]; do sleep 0.05; done
ours_rate=$(rate "$N" "$t0" "$(now)")
bad=$(psql -qtA -U postgres -d atrium -c "SELECT count(*) FROM media_assets WHERE state <> 'ready'")
[ "$bad" = 0 ] || { echo "bench: $bad assets were not ready" >&2; exit 1; }

cat <<OUT
media: $N x 12 MP JPEG, one lane each, $(nproc) cores
vipsthumbnail -s 256      $vips_rate files/s
atrium-media (whole job)  $ours_rate assets/s
ratio atrium-media/vipsthumbnail  $(awk -v a="$ours_rate" -v b="$vips_rate" 'BEGIN { printf "%.2f", a / b }')
OUT
