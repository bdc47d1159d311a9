#!/usr/bin/env bash
# bench/webhooks: deliveries per second of atrium-webhooks (signed, durable: claim, secret open,
# HMAC, POST, attempt row, completion) to nginx answering 204, against `curl --parallel` POSTing
# the same body to the same location in the same run (the transport's ceiling on this machine).
# Each round queues N events with the worker stopped, starts the worker and waits until every
# delivery has succeeded; the round's rate is N over the time PostgreSQL saw between the first
# claim and the last completion (the wall time, which adds the worker's start, is printed too).
# A curl baseline is measured before every round, so each ratio compares figures taken together.
#   BENCH_EVENTS (6000), BENCH_ROUNDS (1), BENCH_ENDPOINTS (1: the events are spread over this
#   many endpoints of the tenant, in turn; with ATRIUM_WEBHOOK_PER_ENDPOINT=4 and 16 endpoints the
#   worker's claim has to apply the cap), BENCH_PROFILE=1 (pg_stat_statements: where the
#   worker's database time goes, per delivery, over the last round),
#   ATRIUM_HTTP_PORT (28280), ATRIUM_HTTPS_PORT (28643), ATRIUM_PG_PORT (54391)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

N=${BENCH_EVENTS:-6000}
ROUNDS=${BENCH_ROUNDS:-1}
ENDPOINTS=${BENCH_ENDPOINTS:-1}
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

# One endpoint takes the whole worker by default (production's per-endpoint cap is 4; BENCH_ENDPOINTS=16
# with ATRIUM_WEBHOOK_PER_ENDPOINT=4 fills the 64 slots under that cap).
export ATRIUM_WEBHOOK_PER_ENDPOINT=${ATRIUM_WEBHOOK_PER_ENDPOINT:-64}
export ATRIUM_WEBHOOK_CONCURRENCY=${ATRIUM_WEBHOOK_CONCURRENCY:-64}
mkdir -p "$STACK_DIR/nginx/conf/extra.d"
echo 'location = /bench/hook { return 204; }' >"$STACK_DIR/nginx/conf/extra.d/bench-webhooks.conf"
scripts/stack.sh start test >"$STACK_DIR/stack.out" 2>&1 || { cat "$STACK_DIR/stack.out"; exit 1; }
KEY=$(cat "$STACK_DIR/owner-api-key")
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
psql_q() { runuser -u postgres -- psql -qtA -h "$STACK_DIR/pg/sock" -p "$ATRIUM_PG_PORT" -d atrium -c "$1"; }
worker_pid() { cat "$STACK_DIR/run/atrium-webhooks.pid"; }

if [ "${BENCH_PROFILE:-0}" = 1 ]; then
	printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track_planning = on\n" \
		>>"$STACK_DIR/pg/data/postgresql.conf"
	scripts/stack.sh stop test >/dev/null 2>&1
	scripts/stack.sh start test >>"$STACK_DIR/stack.out" 2>&1 || { cat "$STACK_DIR/stack.out"; exit 1; }
	psql_q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
fi

# Baseline: curl --parallel, 64 at a time, N POSTs of a delivery-sized body.
BODY='{"type":"webhook.test","timestamp":"2026-01-01T00:00:00.000Z","data":{"endpoint_id":"00000000-0000-0000-0000-000000000000"}}'
for _ in $(seq "$N"); do printf 'url = "%s/bench/hook"\noutput = "/dev/null"\n' "$BASE"; done >"$STACK_DIR/curl.cfg"
curl_rate() {
	local t0 t1
	t0=$(now)
	curl -s --parallel --parallel-max 64 -X POST -H 'Content-Type: application/json' -d "$BODY" \
		-K "$STACK_DIR/curl.cfg" 2>/dev/null
	t1=$(now)
	rate "$N" "$t0" "$t1"
}

EPS=()
for _ in $(seq "$ENDPOINTS"); do
	EPS+=("$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
		-d "{\"url\":\"$BASE/bench/hook\"}" "$BASE/v1/webhooks/endpoints" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
for i in $(seq 0 $((N - 1))); do
	printf 'url = "%s/v1/webhooks/endpoints/%s/test"\noutput = "/dev/null"\n' "$BASE" "${EPS[$((i % ENDPOINTS))]}"
done >"$STACK_DIR/emit.cfg"

# One round: the worker stopped, N deliveries queued, then timed while the worker drains them.
# Prints "<deliveries> <rate from PostgreSQL's timestamps> <wall rate>".
drain_round() {
	local pid queued t0 t1 done_n since
	pid=$(worker_pid)
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z ]; do sleep 0.05; done
	since=$(psql_q "SELECT now()")
	curl -s --parallel --parallel-max 16 -X POST -H "Authorization: Bearer $KEY" -K "$STACK_DIR/emit.cfg" 2>/dev/null
	queued=$(psql_q "SELECT count(*) FROM jobs WHERE queue = 'webhooks' AND state = 'pending'")
	[ "${BENCH_PROFILE:-0}" = 1 ] && psql_q "SELECT pg_stat_statements_reset()" >/dev/null
	t0=$(now)
	scripts/stack.sh start test >/dev/null 2>&1
	while :; do
		done_n=$(psql_q "SELECT count(*) FROM jobs WHERE queue = 'webhooks' AND state = 'succeeded' AND created_at >= '$since'")
		[ "$done_n" -ge "$queued" ] && break
		sleep 0.05
	done
	t1=$(now)
	psql_q "SELECT count(*), round(count(*) / extract(epoch FROM max(j.finished_at) - min(a.started_at)))
		FROM jobs j JOIN job_attempts a ON a.tenant_id = j.tenant_id AND a.job_id = j.id AND a.n = 1
		WHERE j.queue = 'webhooks' AND j.created_at >= '$since'" | tr '|' ' ' | tr -d '\n'
	printf ' %s\n' "$(rate "$queued" "$t0" "$t1")"
}

echo "webhooks bench: $N deliveries per round, $ROUNDS round(s), $ENDPOINTS endpoint(s)" \
	"($ATRIUM_WEBHOOK_PER_ENDPOINT in flight each), $ATRIUM_WEBHOOK_CONCURRENCY in flight"
for r in $(seq "$ROUNDS"); do
	c=$(curl_rate)
	read -r n wh wall <<<"$(drain_round)"
	printf '  round %d: curl --parallel 64 %6s req/s | atrium-webhooks %5s deliveries/s (wall incl. start %5s) | ratio %s\n' \
		"$r" "$c" "$wh" "$wall" "$(ratio "$wh" "$c")"
done
bad=$(psql_q "SELECT count(*) FROM webhook_attempts WHERE status_code <> 204")
dups=$(psql_q "SELECT count(*) - count(DISTINCT delivery_id) FROM webhook_attempts")
echo "  attempts not answered 204: $bad; attempts beyond one per delivery: $dups"
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
	echo "  database time of the last round, per delivery (pg_stat_statements, worker role):"
	psql_q "SELECT to_char(s.calls::numeric / $N, '990.999') || ' calls ' ||
			to_char(s.total_exec_time * 1000 / $N, '99990') || ' us exec ' ||
			to_char(s.total_plan_time * 1000 / $N, '99990') || ' us plan  ' ||
			left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90)
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE r.rolname = 'atrium_worker' ORDER BY s.total_exec_time + s.total_plan_time DESC LIMIT 12" | sed 's/^/    /'
	psql_q "SELECT 'total: ' || to_char(sum(s.calls)::numeric / $N, '990.99') || ' statements, ' ||
			to_char(sum(s.total_exec_time) * 1000 / $N, '99990') || ' us executing, ' ||
			to_char(sum(s.total_plan_time) * 1000 / $N, '99990') || ' us planning per delivery'
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE r.rolname = 'atrium_worker'" | sed 's/^/    /'
fi
