#!/usr/bin/env bash
# bench/webhooks: deliveries per second of atrium-webhooks (signed, durable: claim, secret open,
# HMAC, POST, attempt row, completion) to nginx answering 204, against `curl --parallel` POSTing
# the same body to the same location in the same run (the transport's ceiling on this machine).
# N events are queued with the worker stopped, then the worker is started and timed until every
# delivery has succeeded. Prints both rates and their ratio.
#   BENCH_EVENTS (3000), ATRIUM_HTTP_PORT (28280), ATRIUM_HTTPS_PORT (28643), ATRIUM_PG_PORT (54391)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

N=${BENCH_EVENTS:-3000}
export ATRIUM_HTTP_PORT=${ATRIUM_HTTP_PORT:-28280}
export ATRIUM_HTTPS_PORT=${ATRIUM_HTTPS_PORT:-28643}
export ATRIUM_PG_PORT=${ATRIUM_PG_PORT:-54391}
BASE=http://127.0.0.1:$ATRIUM_HTTP_PORT
STACK_DIR=$(mktemp -d /tmp/atrium-bench-webhooks.XXXXXX)
chmod 755 "$STACK_DIR"
export STACK_DIR

teardown() {
	scripts/stack.sh stop test >/dev/null 2>&1 || echo "bench: stack stop failed ($STACK_DIR kept)" >&2
	rm -rf "$STACK_DIR"
}
trap teardown EXIT

# One endpoint takes the whole worker here (production's per-endpoint cap is 4).
export ATRIUM_WEBHOOK_PER_ENDPOINT=${ATRIUM_WEBHOOK_PER_ENDPOINT:-64}
export ATRIUM_WEBHOOK_CONCURRENCY=${ATRIUM_WEBHOOK_CONCURRENCY:-64}
mkdir -p "$STACK_DIR/nginx/conf/extra.d"
echo 'location = /bench/hook { return 204; }' >"$STACK_DIR/nginx/conf/extra.d/bench-webhooks.conf"
scripts/stack.sh start test >"$STACK_DIR/stack.out" 2>&1 || { cat "$STACK_DIR/stack.out"; exit 1; }
KEY=$(cat "$STACK_DIR/owner-api-key")
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
psql_q() { runuser -u postgres -- psql -qtA -h "$STACK_DIR/pg/sock" -p "$ATRIUM_PG_PORT" -d atrium -c "$1"; }

# Baseline: curl --parallel, 64 at a time, N POSTs of a delivery-sized body.
BODY='{"type":"webhook.test","timestamp":"2026-01-01T00:00:00.000Z","data":{"endpoint_id":"00000000-0000-0000-0000-000000000000"}}'
for _ in $(seq "$N"); do printf 'url = "%s/bench/hook"\noutput = "/dev/null"\n' "$BASE"; done >"$STACK_DIR/curl.cfg"
t0=$(now)
curl -s --parallel --parallel-max 64 -X POST -H 'Content-Type: application/json' -d "$BODY" \
	-K "$STACK_DIR/curl.cfg"
t1=$(now)
CURL_RATE=$(rate "$N" "$t0" "$t1")

# Webhooks: queue N deliveries (per-endpoint cap $ATRIUM_WEBHOOK_PER_ENDPOINT, $ATRIUM_WEBHOOK_CONCURRENCY in flight) with the worker stopped, then time the worker draining them.
EP=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
	-d "{\"url\":\"$BASE/bench/hook\"}" "$BASE/v1/webhooks/endpoints" |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
kill -TERM "$(cat "$STACK_DIR/run/atrium-webhooks.pid")"
sleep 1
for _ in $(seq "$N"); do printf 'url = "%s/v1/webhooks/endpoints/%s/test"\noutput = "/dev/null"\n' "$BASE" "$EP"; done >"$STACK_DIR/emit.cfg"
curl -s --parallel --parallel-max 16 -X POST -H "Authorization: Bearer $KEY" -K "$STACK_DIR/emit.cfg"
queued=$(psql_q "SELECT count(*) FROM jobs WHERE queue = 'webhooks' AND state = 'pending'")
t0=$(now)
scripts/stack.sh start test >/dev/null 2>&1
while :; do
	done_n=$(psql_q "SELECT count(*) FROM jobs WHERE queue = 'webhooks' AND state = 'succeeded'")
	[ "$done_n" -ge "$queued" ] && break
	sleep 0.05
done
t1=$(now)
WH_RATE=$(rate "$queued" "$t0" "$t1")
bad=$(psql_q "SELECT count(*) FROM webhook_attempts WHERE status_code <> 204")

echo "webhooks bench ($queued deliveries, $bad non-204 attempts):"
printf '  curl --parallel 64   %8s req/s\n' "$CURL_RATE"
printf '  atrium-webhooks      %8s deliveries/s (signed, durable)\n' "$WH_RATE"
printf '  ratio webhooks/curl  %8s\n' "$(awk -v a="$WH_RATE" -v b="$CURL_RATE" 'BEGIN { printf "%.3f", a / b }')"
