#!/usr/bin/env bash
# deps: installs what the build and the stack need, and nothing when all is there (make deps).
# As root: apt packages (one update + install, skipped when dpkg shows all installed), npm packages
# when package-lock.json is newer than node_modules, and the service users atrium-web and
# atrium-worker in group atrium.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential pkg-config libfcgi-dev libpq-dev libssl-dev libjson-c-dev libcurl4-openssl-dev
      libmagic-dev libhiredis-dev libcmocka-dev nginx redis-server postgresql-15 postgresql-15-hll
      python3-pytest python3-requests python3-psycopg2 wrk clang libclang-rt-14-dev universal-ctags
      systemd openssl curl
      libvips-dev libheif-dev libvips-tools libheif-examples libavformat-dev libavcodec-dev
      libavutil-dev libswscale-dev clamav clamav-daemon iproute2 chromium)
# nodejs is deliberately absent: the machine brings Node 20, and Debian's 18 would replace it.

log() { printf 'deps: %s\n' "$*"; }

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		log "must run as root to $1"
		exit 1
	fi
}

missing_packages() {
	local p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
	done
}

install_packages() {
	local missing created=0
	mapfile -t missing < <(missing_packages)
	[ "${#missing[@]}" -eq 0 ] && return 0
	need_root "install ${missing[*]}"
	log "installing ${missing[*]}"
	# Keep Debian's postinst from starting nginx :80, redis :6379 and PostgreSQL :5432 on a fresh VM.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		created=1
	fi
	local rc=0
	{ DEBIAN_FRONTEND=noninteractive apt-get update -q &&
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } || rc=$?
	[ "$created" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
	return "$rc"
}

install_npm() {
	[ -f package-lock.json ] || return 0
	if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
		return 0
	fi
	command -v npm >/dev/null || { log "package-lock.json present but npm is missing"; exit 1; }
	log "npm ci"
	npm ci --no-audit --no-fund
}

ensure_users() {
	if getent passwd atrium-web >/dev/null && getent passwd atrium-worker >/dev/null &&
	   id -nG atrium-web | grep -qw atrium && id -nG atrium-worker | grep -qw atrium; then
		return 0
	fi
	need_root "create the service users"
	getent group atrium >/dev/null || groupadd --system atrium
	local u
	for u in atrium-web atrium-worker; do
		getent passwd "$u" >/dev/null ||
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
				--user-group "$u"
		usermod -a -G atrium "$u"
	done
	log "service users atrium-web and atrium-worker (group atrium) ready"
}

install_packages
install_npm
ensure_users
