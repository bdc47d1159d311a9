#!/usr/bin/env bash
# stack: starts, stops and reports the local Atrium stack (PostgreSQL, Redis, atrium-fcgi, workers,
# nginx) of one profile, all of it inside one state directory.
#
#   scripts/stack.sh start  run|test            start what is down (idempotent), migrate, ensure a tenant
#   scripts/stack.sh stop   run|test [SERVICE]  stop everything in reverse order, or only the named
#                                               services (pg redis clamd s3 fcgi workers nginx)
#   scripts/stack.sh status run|test            one line per service; exit 3 when something is down
#
# Storage: ATRIUM_STORAGE=s3 at start runs s3rver (npm, loopback) behind tests/interop/s3_verify.js
# (which checks every SigV4 signature; s3rver does not) with bucket "atrium", and points the
# stack's ATRIUM_STORAGE_BACKEND at it; without it (local) the s3 service is stopped. A change of
# backend restarts atrium-fcgi and the workers so that they read it.
#
# Profile run:  state in /tmp/atrium-run (kept between runs), .run in the checkout links to it,
#               nginx on 8080/8443, PostgreSQL socket port 54320.
# Profile test: state in $STACK_DIR (required; scripts/test.sh makes it), nginx on 18080/18443
#               (ATRIUM_HTTP_PORT / ATRIUM_HTTPS_PORT override), PostgreSQL port 54330, fsync off,
#               short job timings.
# Must run as root: it starts PostgreSQL as postgres, Redis as redis:atrium, and atrium-fcgi and the
# workers as root so that they read the master keys before they drop to atrium-web / atrium-worker.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
SERVICES=(pg redis clamd s3 fcgi workers nginx)   # start order; stop goes in reverse

die() { printf 'stack: %s\n' "$*" >&2; exit 1; }
say() { printf 'stack: %s\n' "$*"; }

usage() {
	die "usage: stack.sh start|stop|status run|test [SERVICE...]"
}

# Sets the profile's directory, ports and environment name.
profile() {
	case "$1" in
	run)
		DIR=/tmp/atrium-run
		HTTP_PORT=${ATRIUM_HTTP_PORT:-8080}
		HTTPS_PORT=${ATRIUM_HTTPS_PORT:-8443}
		PG_PORT=${ATRIUM_PG_PORT:-54320}
		ENV_NAME=dev
		TENANT=dev
		;;
	test)
		[ -n "${STACK_DIR:-}" ] || die "profile test needs STACK_DIR (scripts/test.sh sets it)"
		DIR=$(realpath -m "$STACK_DIR")
		HTTP_PORT=${ATRIUM_HTTP_PORT:-18080}
		HTTPS_PORT=${ATRIUM_HTTPS_PORT:-18443}
		PG_PORT=${ATRIUM_PG_PORT:-54330}
		ENV_NAME=test
		TENANT=test
		;;
	*) usage ;;
	esac
	PROFILE=$1
	STORAGE=${ATRIUM_STORAGE:-local}
	case "$STORAGE" in local | s3) ;; *) die "ATRIUM_STORAGE must be local or s3, not $STORAGE" ;; esac
	S3_PORT=$((HTTP_PORT + 52))       # the SigV4-checking front (the fakes use HTTP_PORT + 50)
	S3RVER_PORT=$((HTTP_PORT + 53))   # s3rver itself, reached only through the front
}

# --- processes ---------------------------------------------------------------------------------

# True when pid names a live process (zombies count as gone: PID 1 here reaps them late).
alive() {
	local st
	[ -n "${1:-}" ] || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

pid_of() { [ -s "$1" ] && head -n 1 "$1" || true; }

# Waits up to $2 tenths of a second for command $1... to succeed.
wait_for() {
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

not_alive() { ! alive "$1"; }

# Sends SIGTERM to the pid in pidfile $1 and waits for the process to go; SIGKILL after 15 s.
stop_pidfile() {
	local pf=$1 name=$2 pid
	pid=$(pid_of "$pf")
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_for 150 not_alive "$pid"; then
			say "$name (pid $pid) ignored SIGTERM for 15 s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
			wait_for 50 not_alive "$pid" || die "$name (pid $pid) does not die"
		fi
		say "stopped $name"
	fi
	rm -f "$pf"
}

tail_log() {
	[ -f "$1" ] && { printf -- '--- tail of %s\n' "$1"; tail -n 20 "$1"; } >&2
	return 0
}

# --- layout, keys, certificate ----------------------------------------------------------------

prepare_dirs() {
	local d
	mkdir -p "$DIR"
	chmod 755 "$DIR"
	# Every parent must be traversable by postgres, redis and the service users.
	d=$(dirname "$DIR")
	while [ "$d" != / ]; do
		[ "$(( $(stat -c '%#a' "$d") & 8#001 ))" -ne 0 ] ||
			die "$d is not traversable by the service users (mode $(stat -c %a "$d"))"
		d=$(dirname "$d")
	done
	mkdir -p "$DIR"/{pg,run,log,tls} "$DIR"/nginx/{conf,logs,tmp}
	chmod 755 "$DIR"/{pg,run,log,tls,nginx}
	install -d -m 0700 -o root -g root "$DIR/keys"
	install -d -m 0750 -o atrium-worker -g atrium "$DIR/media-work"
	# -- storage and uploads: incoming parts next to nginx's upload spool (same filesystem) --
	install -d -m 2770 -o atrium-web -g atrium "$DIR/incoming" "$DIR/storage"
	install -d -m 0750 -o redis -g atrium "$DIR/redis"
	if [ "$PROFILE" = run ]; then
		ln -sfn "$DIR" "$ROOT/.run"
	fi
}

ensure_key() {
	local k="$DIR/keys/1.key"
	# any version will do: after `atriumctl keys rotate` and retiring 1, 1.key stays gone
	compgen -G "$DIR/keys/*.key" >/dev/null && return 0
	(umask 077 && printf '%s' "$(openssl rand -hex 32)" >"$k")
	chmod 0400 "$k"
	say "generated dev master key $k"
}

ensure_cert() {
	[ -f "$DIR/tls/cert.pem" ] && [ -f "$DIR/tls/key.pem" ] && return 0
	(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" 2>/dev/null) ||
		die "openssl could not make the self-signed certificate"
	chmod 644 "$DIR/tls/cert.pem"
	say "generated self-signed certificate $DIR/tls/cert.pem"
}

# --- environment files ------------------------------------------------------------------------

conninfo() { printf 'host=%s port=%s dbname=atrium user=%s' "$DIR/pg/sock" "$PG_PORT" "$1"; }

write_env() {
	local tmp="$DIR/atrium.env.tmp"
	{
		echo "# Written by scripts/stack.sh ($PROFILE profile); systemd EnvironmentFile syntax."
		echo "ATRIUM_ENV=$ENV_NAME"
		echo "ATRIUM_DB_APP=\"$(conninfo atrium_app)\""
		echo "ATRIUM_DB_WORKER=\"$(conninfo atrium_worker)\""
		echo "ATRIUM_DB_OWNER=\"$(conninfo atrium_owner)\""
		echo "ATRIUM_REDIS=$DIR/redis/redis.sock"
		echo "ATRIUM_FCGI_SOCKET=$DIR/run/fcgi.sock"
		echo "ATRIUM_KEYS_DIR=$DIR/keys"
		echo "ATRIUM_SQL_DIR=$ROOT/sql"
		echo "ATRIUM_PUBLIC_URL=http://127.0.0.1:$HTTP_PORT"
		echo "ATRIUM_LOG_LEVEL=info"
		# -- webhooks and outbound HTTP: local stacks reach a receiver on loopback over http --
		echo "ATRIUM_HTTP_ALLOW_HTTP=1"
		echo "ATRIUM_HTTP_ALLOW_CIDRS=127.0.0.0/8,::1/128"
		# -- media processing (clamd) --
		echo "ATRIUM_MEDIA_SCANNER=clamd"
		echo "ATRIUM_CLAMD_SOCKET=$DIR/clamd/run/clamd.sock"
		echo "ATRIUM_MEDIA_WORK_DIR=$DIR/media-work"
		# -- storage and uploads --
		echo "ATRIUM_STORAGE_DIR=$DIR/storage"
		echo "ATRIUM_STORAGE_BACKEND=$STORAGE"
		if [ "$STORAGE" = s3 ]; then
			echo "ATRIUM_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
			echo "ATRIUM_S3_REGION=us-east-1"
			echo "ATRIUM_S3_BUCKET=atrium"
			echo "ATRIUM_S3_ACCESS_KEY=S3RVER"
			echo "ATRIUM_S3_SECRET_KEY=$(cat "$DIR/s3/secret")"
			echo "ATRIUM_S3_PATH_STYLE=1"
		fi
		echo "ATRIUM_UPLOAD_DIR=$DIR/incoming"
		if [ "$PROFILE" = test ]; then
			echo "ATRIUM_JOB_LEASE_MS=3000"
			echo "ATRIUM_JOB_SWEEP_MS=500"
			echo "ATRIUM_JOB_BACKOFF_BASE_MS=200"
			echo "ATRIUM_JOB_BACKOFF_CAP_MS=2000"
			echo "ATRIUM_JOB_BLOCK_MS=500"
			echo "ATRIUM_WEBHOOK_SCHEDULE_MS=300,600,900,1200,1500,1800,2100"
			echo "ATRIUM_WEBHOOK_THROTTLE_MS=1000"
			# outbound calls time out sooner, so the HTTP workers' leases (timeout + 2 s) stay short
			echo "ATRIUM_HTTP_TIMEOUT_MS=4000"
			# -- public uploads: a per-session creation limit a test reaches quickly --
			echo "ATRIUM_SESSION_UPLOADS_PER_MIN=20"
			# -- integrations: provider APIs are local fakes (tests/fakes, port HTTP+50) --
			echo "ATRIUM_GOOGLE_TOKEN_URL=http://127.0.0.1:$((HTTP_PORT + 50))/google/token"
			echo "ATRIUM_SHEETS_BASE_URL=http://127.0.0.1:$((HTTP_PORT + 50))/sheets"
			echo "ATRIUM_INTERCOM_BASE_URL=http://127.0.0.1:$((HTTP_PORT + 50))/intercom"
		fi
	} >"$tmp"
	mv "$tmp" "$DIR/atrium.env"
	{
		echo "# Written by scripts/stack.sh: what tests need to reach this stack."
		echo "ATRIUM_ROOT=$ROOT"
		echo "ATRIUM_PROFILE=$PROFILE"
		echo "STACK_DIR=$DIR"
		echo "ATRIUM_STACK=$ROOT/scripts/stack.sh"
		echo "ATRIUM_ENV_FILE=$DIR/atrium.env"
		echo "ATRIUM_BASE_URL=http://127.0.0.1:$HTTP_PORT"
		echo "ATRIUM_HTTPS_URL=https://127.0.0.1:$HTTPS_PORT"
		echo "ATRIUM_CA=$DIR/tls/cert.pem"
		echo "ATRIUM_OWNER_KEY_FILE=$DIR/owner-api-key"
		echo "ATRIUM_REDIS=$DIR/redis/redis.sock"
		echo "ATRIUM_FCGI_SOCKET=$DIR/run/fcgi.sock"
		echo "ATRIUM_KEYS_DIR=$DIR/keys"
		echo "ATRIUM_LOG_DIR=$DIR/log"
		echo "ATRIUM_FAKES_PORT=$((HTTP_PORT + 50))"
		echo "PGHOST=$DIR/pg/sock"
		echo "PGPORT=$PG_PORT"
		echo "PGDATABASE=atrium"
		echo "ATRIUM_PG_DATA=$DIR/pg/data"
		echo "ATRIUM_PG_PIDFILE=$DIR/pg/data/postmaster.pid"
		echo "ATRIUM_REDIS_PIDFILE=$DIR/redis/redis.pid"
		echo "ATRIUM_REDIS_CONF=$DIR/redis/redis.conf"
		echo "ATRIUM_FCGI_PIDFILE=$DIR/run/fcgi.pid"
		echo "ATRIUM_WORKER_PIDDIR=$DIR/run"
		echo "ATRIUM_NGINX_PIDFILE=$DIR/nginx/logs/nginx.pid"
		echo "ATRIUM_NGINX_ERROR_LOG=$DIR/nginx/logs/error.log"
		echo "ATRIUM_CLAMD_SOCKET=$DIR/clamd/run/clamd.sock"
		echo "ATRIUM_CLAMD_PIDFILE=$DIR/clamd/run/clamd.pid"
		echo "ATRIUM_STORAGE_BACKEND=$STORAGE"
		echo "ATRIUM_S3_DATA=$DIR/s3/data"
		echo "ATRIUM_S3_URL=http://127.0.0.1:$S3_PORT"
	} >"$DIR/stack.env.tmp"
	mv "$DIR/stack.env.tmp" "$DIR/stack.env"
}

# Runs a command with atrium.env exported (the file's quoting is shell-compatible).
with_env() {
	(set -a && . "$DIR/atrium.env" && set +a && exec "$@")
}

# --- PostgreSQL -------------------------------------------------------------------------------

pg() { (cd / && runuser -u postgres -- "$PGBIN/$@"); }
psql_su() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg/sock" -p "$PG_PORT" -U postgres "$@"; }

pg_init() {
	[ -f "$DIR/pg/data/PG_VERSION" ] && return 0
	say "initdb $DIR/pg/data"
	mkdir -p "$DIR/pg/sock"
	chown -R postgres:postgres "$DIR/pg"
	chmod 755 "$DIR/pg" "$DIR/pg/sock"
	pg initdb -D "$DIR/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
	{
		echo "# Atrium ($PROFILE profile), written by scripts/stack.sh"
		echo "listen_addresses = ''"
		echo "port = $PG_PORT"
		echo "unix_socket_directories = '$DIR/pg/sock'"
		echo "synchronous_commit = on"
		if [ "$PROFILE" = test ]; then
			echo "fsync = off"
		fi
	} >>"$DIR/pg/data/postgresql.conf"
}

pg_up() { [ -S "$DIR/pg/sock/.s.PGSQL.$PG_PORT" ] && pg pg_ctl -D "$DIR/pg/data" status >/dev/null 2>&1; }

start_pg() {
	pg_init
	pg_up && return 0
	[ -f "$DIR/log/postgresql.log" ] || install -m 0640 -o postgres -g postgres /dev/null "$DIR/log/postgresql.log"
	pg pg_ctl -D "$DIR/pg/data" -l "$DIR/log/postgresql.log" -w -t 60 start >/dev/null ||
		{ tail_log "$DIR/log/postgresql.log"; die "PostgreSQL did not start"; }
	say "started PostgreSQL (socket $DIR/pg/sock, port $PG_PORT)"
}

stop_pg() {
	[ -f "$DIR/pg/data/postmaster.pid" ] || return 0
	pg pg_ctl -D "$DIR/pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	wait_for 100 test ! -e "$DIR/pg/data/postmaster.pid" || die "PostgreSQL did not stop"
	say "stopped PostgreSQL"
}

# Roles and database (DESIGN section 8): atrium_owner owns the database and, through migrations,
# every table; atrium_app and atrium_worker are plain logins without bypass rights.
pg_roles() {
	psql_su -d postgres <<-'SQL'
		SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r)
		  FROM unnest(ARRAY['atrium_owner', 'atrium_app', 'atrium_worker']) AS r
		 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
		ALTER ROLE atrium_app NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
		ALTER ROLE atrium_worker NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
		ALTER ROLE atrium_owner NOSUPERUSER NOCREATEDB NOCREATEROLE;
		SELECT 'CREATE DATABASE atrium OWNER atrium_owner'
		 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'atrium') \gexec
	SQL
	psql_su -d atrium -c 'CREATE EXTENSION IF NOT EXISTS hll'
}

migrate() {
	[ -x "$ROOT/build/atriumctl" ] || die "build/atriumctl is missing: run make build"
	with_env "$ROOT/build/atriumctl" migrate >>"$DIR/log/migrate.log" 2>&1 ||
		{ tail_log "$DIR/log/migrate.log"; die "atriumctl migrate failed"; }
}

# --- Redis ------------------------------------------------------------------------------------

redis_conf() {
	cat >"$DIR/redis/redis.conf" <<-EOF
		# Atrium ($PROFILE profile), written by scripts/stack.sh. Unix socket only, AOF on.
		port 0
		unixsocket $DIR/redis/redis.sock
		unixsocketperm 770
		daemonize yes
		pidfile $DIR/redis/redis.pid
		logfile $DIR/log/redis.log
		dir $DIR/redis
		appendonly yes
		appendfsync everysec
		save ""
	EOF
}

redis_up() { [ -S "$DIR/redis/redis.sock" ] && alive "$(pid_of "$DIR/redis/redis.pid")"; }

# Runs as user redis with primary group atrium, so the socket it creates is redis:atrium 0770 and
# both atrium-web and atrium-worker (members of atrium) connect, also after a restart.
start_redis() {
	redis_up && return 0
	redis_conf
	[ -f "$DIR/log/redis.log" ] || install -m 0640 -o redis -g atrium /dev/null "$DIR/log/redis.log"
	rm -f "$DIR/redis/redis.sock"
	runuser -u redis -g atrium -- /usr/bin/redis-server "$DIR/redis/redis.conf" ||
		die "redis-server did not start"
	wait_for 100 redis_up || { tail_log "$DIR/log/redis.log"; die "Redis did not come up"; }
	say "started Redis (socket $DIR/redis/redis.sock)"
}

stop_redis() {
	stop_pidfile "$DIR/redis/redis.pid" Redis
	rm -f "$DIR/redis/redis.sock"
}

# --- clamd (media scanning) -------------------------------------------------------------------

# ClamAV's clamd with a custom signature database only (the official one cannot be downloaded
# here): EICAR by hash and by body, so EICAR inside other files is found too. AlertExceedsMax
# makes a file over the limits a finding ("Heuristics.Limits.Exceeded"), never clean. Runs as
# clamav (not in group atrium); its socket is 0666 inside run/, a clamav:atrium 0750 directory,
# so that only clamav and the atrium group (atrium-worker) reach it.
clamd_conf() {
	local eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
	install -d -m 0755 -o clamav -g atrium "$DIR/clamd" "$DIR/clamd/db" "$DIR/clamd/tmp"
	install -d -m 0750 -o clamav -g atrium "$DIR/clamd/run"
	printf '%s:%s:Atrium.Test.EICAR.HDB\n' "$(printf '%s' "$eicar" | md5sum | cut -d' ' -f1)" \
		"${#eicar}" >"$DIR/clamd/db/atrium.hdb"
	printf 'Atrium.Test.EICAR.NDB:0:*:%s\n' \
		"$(printf %s EICAR-STANDARD-ANTIVIRUS-TEST-FILE | od -An -tx1 | tr -d ' \n')" \
		>"$DIR/clamd/db/atrium.ndb"
	cat >"$DIR/clamd/clamd.conf" <<-EOF
		# Atrium ($PROFILE profile), written by scripts/stack.sh
		DatabaseDirectory $DIR/clamd/db
		LocalSocket $DIR/clamd/run/clamd.sock
		LocalSocketMode 666
		PidFile $DIR/clamd/run/clamd.pid
		LogFile $DIR/log/clamd.log
		TemporaryDirectory $DIR/clamd/tmp
		User clamav
		Foreground no
		StreamMaxLength 200M
		MaxFileSize 200M
		MaxScanSize 400M
		AlertExceedsMax yes
	EOF
}

clamd_up() { [ -S "$DIR/clamd/run/clamd.sock" ] && alive "$(pid_of "$DIR/clamd/run/clamd.pid")"; }

start_clamd() {
	clamd_up && return 0
	clamd_conf
	[ -f "$DIR/log/clamd.log" ] || install -m 0640 -o clamav -g atrium /dev/null "$DIR/log/clamd.log"
	rm -f "$DIR/clamd/run/clamd.sock"
	clamd --config-file="$DIR/clamd/clamd.conf" >>"$DIR/log/clamd.log" 2>&1 ||
		{ tail_log "$DIR/log/clamd.log"; die "clamd did not start"; }
	wait_for 100 clamd_up || { tail_log "$DIR/log/clamd.log"; die "clamd did not come up"; }
	say "started clamd (socket $DIR/clamd/run/clamd.sock)"
}

stop_clamd() {
	stop_pidfile "$DIR/clamd/run/clamd.pid" clamd
	rm -f "$DIR/clamd/run/clamd.sock"
}

# --- s3rver behind the SigV4 check (ATRIUM_STORAGE=s3) ----------------------------------------

# The secret the front checks signatures with: random per state directory, never in argv.
s3_secret() {
	install -d -m 0755 -o root -g root "$DIR/s3"
	[ -s "$DIR/s3/secret" ] || (umask 077 && openssl rand -hex 20 >"$DIR/s3/secret")
}

# The front answers 403 to an unsigned request once both processes listen.
s3_answers() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$S3_PORT/" || true)" = 403 ]
}
s3_up() { alive "$(pid_of "$DIR/run/s3rver.pid")" && alive "$(pid_of "$DIR/run/s3-verify.pid")"; }

# Starts node script $2... as nobody, detached, logging to log/$1.log, pid in run/$1.pid.
spawn_node() {
	local name=$1
	shift
	(
		cd "$ROOT"
		exec setsid setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/node "$@" \
			</dev/null >>"$DIR/log/$name.log" 2>&1
	) &
	echo $! >"$DIR/run/$name.pid"
}

start_s3() {
	[ "$STORAGE" = s3 ] || { stop_s3; return 0; }
	s3_up && return 0
	[ -x /usr/bin/node ] && [ -f "$ROOT/node_modules/s3rver/bin/s3rver.js" ] &&
		[ -f "$ROOT/node_modules/aws4/aws4.js" ] ||
		die "ATRIUM_STORAGE=s3 needs /usr/bin/node and node_modules/s3rver, aws4 (npm ci)"
	install -d -m 0700 -o nobody -g nogroup "$DIR/s3/data"
	spawn_node s3rver node_modules/s3rver/bin/s3rver.js -d "$DIR/s3/data" -a 127.0.0.1 \
		-p "$S3RVER_PORT" -s --configure-bucket atrium
	S3_VERIFY_SECRET=$(cat "$DIR/s3/secret") spawn_node s3-verify tests/interop/s3_verify.js \
		"$S3_PORT" "$S3RVER_PORT" S3RVER
	wait_for 150 s3_answers || { tail_log "$DIR/log/s3rver.log"; tail_log "$DIR/log/s3-verify.log"; die "s3rver did not come up"; }
	say "started s3rver behind its SigV4 check on http://127.0.0.1:$S3_PORT (bucket atrium)"
}

stop_s3() {
	stop_pidfile "$DIR/run/s3-verify.pid" s3-verify
	stop_pidfile "$DIR/run/s3rver.pid" s3rver
}

# A backend change since the last start: the running atrium processes read their environment
# once, so they restart.
storage_changed() {
	local was
	was=$(cat "$DIR/storage-backend" 2>/dev/null || echo local)
	[ "$was" = "$STORAGE" ] && return 0
	say "storage backend $was -> $STORAGE: restarting atrium-fcgi and the workers"
	stop_workers
	stop_fcgi
}

# --- atrium-fcgi and workers ------------------------------------------------------------------

# Starts binary $1 as a detached session, logging to log/$2.log, pid in run/$2.pid.
# It starts as root and drops to $3 itself after reading the keys. atrium.env.override, when a
# test writes one, is read after atrium.env (tests/stack restarts a process with a setting
# no shared stack could run with, such as a huge ATRIUM_UPLOAD_MIN_FREE_MB, then removes it).
spawn() {
	local bin=$1 name=$2 user=$3
	(
		set -a && . "$DIR/atrium.env" && set +a
		if [ -f "$DIR/atrium.env.override" ]; then set -a && . "$DIR/atrium.env.override" && set +a; fi
		cd "$DIR"
		ATRIUM_USER=$user exec setsid "$bin" </dev/null >>"$DIR/log/$name.log" 2>&1
	) &
	echo $! >"$DIR/run/$name.pid"
}

# Restart a process whose binary was rebuilt since it started (make run after an edit).
stale() { [ "$1" -nt "$2" ]; }

fcgi_up() { [ -S "$DIR/run/fcgi.sock" ] && alive "$(pid_of "$DIR/run/fcgi.pid")"; }

start_fcgi() {
	local bin="$ROOT/build/atrium-fcgi"
	[ -x "$bin" ] || die "build/atrium-fcgi is missing: run make build"
	if fcgi_up; then
		stale "$bin" "$DIR/run/fcgi.pid" || return 0
		say "build/atrium-fcgi was rebuilt: restarting it"
		stop_fcgi
	fi
	rm -f "$DIR/run/fcgi.sock"
	spawn "$bin" fcgi atrium-web
	wait_for 100 fcgi_up || { tail_log "$DIR/log/fcgi.log"; die "atrium-fcgi did not create its socket"; }
	say "started atrium-fcgi (pid $(pid_of "$DIR/run/fcgi.pid"))"
}

stop_fcgi() {
	stop_pidfile "$DIR/run/fcgi.pid" atrium-fcgi
	rm -f "$DIR/run/fcgi.sock"
}

# Every build/atrium-* binary except atrium-fcgi is a worker.
worker_bins() {
	local b
	for b in "$ROOT"/build/atrium-*; do
		[ -f "$b" ] && [ -x "$b" ] && [ "${b##*/}" != atrium-fcgi ] && printf '%s\n' "$b"
	done
	return 0
}

start_workers() {
	local bin name pf
	for bin in $(worker_bins); do
		name=${bin##*/}
		pf="$DIR/run/$name.pid"
		if alive "$(pid_of "$pf")"; then
			stale "$bin" "$pf" || continue
			say "build/$name was rebuilt: restarting it"
			stop_pidfile "$pf" "$name"
		fi
		spawn "$bin" "$name" atrium-worker
		sleep 0.2
		alive "$(pid_of "$pf")" || { tail_log "$DIR/log/$name.log"; die "$name exited at start"; }
		say "started $name (pid $(pid_of "$pf"))"
	done
}

stop_workers() {
	local pf name
	for pf in "$DIR"/run/atrium-*.pid; do
		[ -f "$pf" ] || continue
		name=${pf##*/}
		stop_pidfile "$pf" "${name%.pid}"
	done
}

# --- nginx ------------------------------------------------------------------------------------

NGINX_PREFIX() { printf '%s' "$DIR/nginx/"; }
ngx() { nginx -p "$(NGINX_PREFIX)" -c conf/nginx.conf -e logs/error.log "$@"; }
nginx_up() { alive "$(pid_of "$DIR/nginx/logs/nginx.pid")"; }

# Renders nginx/dev.conf.in and copies nginx/snippets/ into the prefix. Returns 0 when the
# rendered config differs from the one in place (and replaces it), 1 when nothing changed.
render_nginx() {
	local stage="$DIR/nginx/conf.new"
	rm -rf "$stage"
	mkdir -p "$stage/snippets/atrium" "$stage/extra.d"
	sed -e "s#@DIR@#$DIR#g" -e "s#@ROOT@#$ROOT#g" \
		-e "s#@HTTP_PORT@#$HTTP_PORT#g" -e "s#@HTTPS_PORT@#$HTTPS_PORT#g" \
		"$ROOT/nginx/dev.conf.in" >"$stage/nginx.conf"
	cp "$ROOT"/nginx/snippets/*.conf "$stage/snippets/atrium/"
	cp -p "$DIR"/nginx/conf/extra.d/*.conf "$stage/extra.d/" 2>/dev/null || true
	if diff -r -q "$stage" "$DIR/nginx/conf" >/dev/null 2>&1; then
		rm -rf "$stage"
		return 1
	fi
	rm -rf "$DIR/nginx/conf"
	mv "$stage" "$DIR/nginx/conf"
	return 0
}

start_nginx() {
	local changed=0
	render_nginx && changed=1
	mkdir -p "$DIR"/nginx/tmp/{body,fastcgi,proxy,scgi,uwsgi}
	runuser -u atrium-web -- test -r "$ROOT/web/index.html" ||
		say "warning: atrium-web cannot read $ROOT/web: static pages will answer 403/404"
	if nginx_up; then
		[ "$changed" -eq 1 ] || return 0
		ngx -t -q || die "nginx config is invalid (kept the running one)"
		ngx -s reload
		say "reloaded nginx (config changed)"
		return 0
	fi
	ngx -t -q || die "nginx config is invalid"
	ngx || { tail_log "$DIR/nginx/logs/error.log"; die "nginx did not start"; }
	wait_for 50 nginx_up || die "nginx did not write its pidfile"
	say "started nginx on http://127.0.0.1:$HTTP_PORT and https://127.0.0.1:$HTTPS_PORT"
}

stop_nginx() {
	local pid
	pid=$(pid_of "$DIR/nginx/logs/nginx.pid")
	alive "$pid" || { rm -f "$DIR/nginx/logs/nginx.pid"; return 0; }
	kill -QUIT "$pid" 2>/dev/null || true
	if ! wait_for 100 not_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		wait_for 50 not_alive "$pid" || die "nginx (pid $pid) did not stop"
	fi
	rm -f "$DIR/nginx/logs/nginx.pid"
	say "stopped nginx"
}

# --- tenant -----------------------------------------------------------------------------------

# Creates the profile's tenant once and keeps its owner API key in owner-api-key (0600).
ensure_tenant() {
	local keyfile="$DIR/owner-api-key" out key
	[ -s "$keyfile" ] && return 0
	out=$(with_env "$ROOT/build/atriumctl" tenant create --name "$TENANT" 2>>"$DIR/log/atriumctl.log") ||
		{ tail_log "$DIR/log/atriumctl.log"; die "atriumctl tenant create failed"; }
	key=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])') ||
		die "atriumctl tenant create printed no api_key"
	(umask 077 && printf '%s\n' "$key" >"$keyfile.tmp")
	mv "$keyfile.tmp" "$keyfile"
	say "created tenant $TENANT"
}

# The upload page's URL for the first published flow of the profile's tenant that has a file
# field (web/upload.html?flow=ID), or how to get one; for the banner of `make run`.
upload_page_hint() {
	local id
	id=$(curl -s --max-time 5 -H "Authorization: Bearer $(cat "$DIR/owner-api-key")" \
		"http://127.0.0.1:$HTTP_PORT/v1/flows?limit=100" | /usr/bin/python3 -c '
import json, sys
for f in json.load(sys.stdin).get("items", []):
    if f.get("status") == "published" and any(x.get("type") == "file"
            for st in f.get("steps") or [] for x in st.get("fields") or []):
        print(f["id"]); break' 2>/dev/null) || id=
	if [ -n "$id" ]; then
		echo "upload page (flow $id): http://127.0.0.1:$HTTP_PORT/upload.html?flow=$id"
	else
		echo "upload page: publish a flow with a file field, then open /upload.html?flow=ID (README, \"Upload page\")"
	fi
}

# --- commands ---------------------------------------------------------------------------------

cmd_start() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (see the header of this script)"
	getent group atrium >/dev/null || die "group atrium is missing: run make deps"
	prepare_dirs
	ensure_key
	ensure_cert
	s3_secret
	write_env
	storage_changed
	echo "$STORAGE" >"$DIR/storage-backend"
	start_pg
	pg_roles
	migrate
	start_redis
	start_clamd
	start_s3
	start_fcgi
	start_workers
	start_nginx
	ensure_tenant
	if [ "$PROFILE" = run ]; then
		cat <<-EOF

			Atrium is up ($DIR, linked as .run):
			  http://127.0.0.1:$HTTP_PORT/      https://127.0.0.1:$HTTPS_PORT/  (CA: .run/tls/cert.pem)
			  owner API key (tenant "$TENANT", in .run/owner-api-key): $(cat "$DIR/owner-api-key")
			  curl -H "Authorization: Bearer \$(cat .run/owner-api-key)" http://127.0.0.1:$HTTP_PORT/v1/me
			  $(upload_page_hint)
			Logs in .run/log/ and .run/nginx/logs/; stop with: make stop
		EOF
	fi
}

cmd_stop() {
	local s i
	[ -d "$DIR" ] || return 0
	[ "$#" -gt 0 ] || set -- "${SERVICES[@]}"
	for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
		for s in "$@"; do
			[ "$s" = "${SERVICES[$i]}" ] && "stop_$s"
		done
	done
	return 0
}

cmd_status() {
	local down=0 bin name
	report() {
		local name=$1
		shift
		if "$@"; then printf '%-22s up\n' "$name"; else printf '%-22s DOWN\n' "$name"; down=1; fi
	}
	report postgresql pg_up
	report redis redis_up
	report clamd clamd_up
	if [ "$(cat "$DIR/storage-backend" 2>/dev/null || echo local)" = s3 ]; then
		report "s3rver+sigv4-check" s3_up
	fi
	report atrium-fcgi fcgi_up
	for bin in $(worker_bins); do
		name=${bin##*/}
		report "$name" alive "$(pid_of "$DIR/run/$name.pid")"
	done
	report nginx nginx_up
	return $((down * 3))
}

main() {
	[ "$#" -ge 2 ] || usage
	local cmd=$1 s
	profile "$2"
	shift 2
	for s in "$@"; do
		case " ${SERVICES[*]} " in *" $s "*) ;; *) die "unknown service $s (${SERVICES[*]})" ;; esac
	done
	case "$cmd" in
	start) cmd_start ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status ;;
	*) usage ;;
	esac
}

main "$@"
