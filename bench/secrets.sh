#!/usr/bin/env bash
# bench/secrets: what sealing costs on the request path, measured in one run against one stack.
#   baseline  POST /v1/flows          a tenant row insert, same auth and transaction
#   seal      POST /v1/integrations   http type with one secret header: data key unwrap, AES-GCM
#                                     seal, secret row, two audit rows, integration row
#   read      GET /v1/integrations/ID the record with its secret metadata (no decrypt)
#   readbase  GET /v1/flows/ID
# Prints req/s and the ratios seal/baseline and read/readbase. wrk -t2 -c16, BENCH_SECONDS (5).
#   ATRIUM_HTTP_PORT (28180), ATRIUM_HTTPS_PORT (28543), ATRIUM_PG_PORT (54380)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SECS=${BENCH_SECONDS:-5}
export ATRIUM_HTTP_PORT=${ATRIUM_HTTP_PORT:-28180}
export ATRIUM_HTTPS_PORT=${ATRIUM_HTTPS_PORT:-28543}
export ATRIUM_PG_PORT=${ATRIUM_PG_PORT:-54380}
BASE=http://127.0.0.1:$ATRIUM_HTTP_PORT
STACK_DIR=$(mktemp -d /tmp/atrium-bench-secrets.XXXXXX)
chmod 755 "$STACK_DIR"
export STACK_DIR

teardown() {
	scripts/stack.sh stop test >/dev/null 2>&1 || echo "bench: stack stop failed ($STACK_DIR kept)" >&2
	rm -rf "$STACK_DIR"
}
trap teardown EXIT
scripts/stack.sh start test >"$STACK_DIR/stack.out" 2>&1 || { cat "$STACK_DIR/stack.out"; exit 1; }
KEY=$(cat "$STACK_DIR/owner-api-key")

# wrk script for one method, path and JSON body.
script() {
	cat >"$STACK_DIR/$1.lua" <<LUA
wrk.method = "$2"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
${3:+wrk.body = '$3'}
LUA
}

measure() {
	local name=$1 path=$2 out rps bad
	wrk -t2 -c16 -d1s -s "$STACK_DIR/$name.lua" "$BASE$path" >/dev/null
	out=$(wrk -t2 -c16 -d"${SECS}s" -s "$STACK_DIR/$name.lua" "$BASE$path")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	printf '  %-9s %-34s %10s req/s%s\n' "$name" "$path" "$rps" "${bad:+  ($bad non-2xx!)}" >&2
	[ -z "$bad" ] || return 1
	echo "$rps"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

json() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
auth=(-H "Authorization: Bearer $KEY" -H "Content-Type: application/json")
flow=$(curl -sf "${auth[@]}" -d '{"name":"bench"}' "$BASE/v1/flows" | json)
integ=$(curl -sf "${auth[@]}" -d '{"type":"http","name":"b","config":{"url":"https://example.com/","secret_headers":{"X-Key":"bench-secret-value"}}}' "$BASE/v1/integrations" | json)

script baseline POST '{"name":"bench"}'
script seal POST '{"type":"http","name":"b","config":{"url":"https://example.com/","secret_headers":{"X-Key":"bench-secret-value"}}}'
script readbase GET ''
script read GET ''

echo "bench/secrets: wrk -t2 -c16 -d${SECS}s, $(nproc) cores, http on loopback" >&2
baseline=$(measure baseline /v1/flows)
seal=$(measure seal /v1/integrations)
readbase=$(measure readbase "/v1/flows/$flow")
read=$(measure read "/v1/integrations/$integ")

cat <<OUT

ratio seal/baseline   $(ratio "$seal" "$baseline")   (creating an integration with one sealed secret vs creating a flow)
ratio read/readbase   $(ratio "$read" "$readbase")   (reading an integration with secret metadata vs reading a flow)
OUT
