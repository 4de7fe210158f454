# scripts/lib.sh: what scripts/test and scripts/quickstart need on a bare
# Debian machine, sourced by both: PostgreSQL with a test role, and the cached
# Synapse virtualenvs of crates/test-support/src/synapse.rs (the pinned release,
# and the oldest supported one for tests/it/oldest_e2e.rs). Installs missing
# Debian packages when run as root, and otherwise says what is missing.
# Expects to be sourced from the repository root.

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'scripts/test: %s\n' "$*" >&2
	exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

DEFAULT_PG_URL=postgresql://synapse_warden_test:synapse_warden_test@127.0.0.1:5432/postgres
PG_ROLE=synapse_warden_test
PG_PASSWORD=synapse_warden_test

# Pinned in the harness; read from there so the two never disagree.
harness_const() {
	local value
	value=$(sed -n "s/^pub const $1: &str = \"\(.*\)\";\$/\1/p" crates/test-support/src/synapse.rs)
	[ -n "$value" ] || die "cannot read $1 from crates/test-support/src/synapse.rs"
	printf '%s\n' "$value"
}
SYNAPSE_VERSION=$(harness_const SYNAPSE_VERSION) || exit 1
# The oldest Synapse the warden and its module support (tests/it/oldest_e2e.rs).
OLDEST_SYNAPSE_VERSION=$(harness_const OLDEST_SYNAPSE_VERSION) || exit 1

APT_UPDATED=
apt_install() {
	is_root || die "missing: $* (Debian packages). Install them, or run scripts/test as root to have them installed."
	command -v apt-get >/dev/null || die "missing: $*, and this is not a Debian-like system (no apt-get): install them by hand."
	if [ -z "$APT_UPDATED" ]; then
		say "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		APT_UPDATED=1
	fi
	say "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

pg_reachable() { psql "$1" -XtAqc 'SELECT 1' >/dev/null 2>&1; }

# --- PostgreSQL --------------------------------------------------------------

setup_postgres() {
	if [ -n "${WARDEN_TEST_PG_URL:-}" ]; then
		command -v psql >/dev/null || apt_install postgresql-client
		say "PostgreSQL: using WARDEN_TEST_PG_URL as given (no local setup)"
		pg_reachable "$WARDEN_TEST_PG_URL" ||
			die "cannot connect to WARDEN_TEST_PG_URL: $(psql "$WARDEN_TEST_PG_URL" -XtAqc 'SELECT 1' 2>&1 | head -3)"
		return
	fi
	export WARDEN_TEST_PG_URL=$DEFAULT_PG_URL
	if command -v psql >/dev/null && pg_reachable "$WARDEN_TEST_PG_URL" &&
		[ "$(psql "$WARDEN_TEST_PG_URL" -XtAqc "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")" = t ]; then
		say "PostgreSQL: $PG_ROLE@127.0.0.1:5432 is ready"
		return
	fi
	if ! is_root; then
		die "PostgreSQL is not reachable at $DEFAULT_PG_URL with CREATEDB.
  As root, scripts/test sets it up. Otherwise, start a PostgreSQL server on 127.0.0.1:5432 and run
    CREATE ROLE $PG_ROLE WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  or point WARDEN_TEST_PG_URL at a server and role that has CREATEDB."
	fi
	if ! command -v pg_lsclusters >/dev/null || ! command -v psql >/dev/null; then
		apt_install postgresql
	fi
	# The newest installed major version, its "main" cluster.
	local version
	version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -1)
	[ -n "$version" ] || die "PostgreSQL is installed but /usr/lib/postgresql has no server version"
	if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
		say "pg_createcluster $version main"
		pg_createcluster "$version" main >/dev/null
	fi
	local port status
	port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $3 }')
	status=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $4 }')
	if [ "$status" != online ]; then
		say "pg_ctlcluster $version main start"
		pg_ctlcluster --skip-systemctl-redirect "$version" main start
	fi
	local i
	for i in $(seq 1 30); do
		pg_isready -q -h 127.0.0.1 -p "$port" && break
		[ "$i" -lt 30 ] || die "PostgreSQL $version did not accept connections on 127.0.0.1:$port (see /var/log/postgresql/)"
		sleep 1
	done
	say "PostgreSQL $version: role $PG_ROLE (LOGIN CREATEDB)"
	runuser -u postgres -- psql -p "$port" -X -q -v ON_ERROR_STOP=1 -d postgres <<-SQL
		DO \$\$
		BEGIN
		    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
		        CREATE ROLE $PG_ROLE WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
		    ELSE
		        ALTER ROLE $PG_ROLE WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
		    END IF;
		END
		\$\$;
	SQL
	export WARDEN_TEST_PG_URL="postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$port/postgres"
	pg_reachable "$WARDEN_TEST_PG_URL" ||
		die "cannot log in as $PG_ROLE at 127.0.0.1:$port: $(psql "$WARDEN_TEST_PG_URL" -XtAqc 'SELECT 1' 2>&1 | head -3)
  (pg_hba.conf must allow password logins from 127.0.0.1)"
}

# --- The Synapse virtualenv --------------------------------------------------

synapse_cache() { printf '%s\n' "${SYNAPSE_WARDEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/synapse-warden}"; }

# synapse_venv_ok VENV VERSION
synapse_venv_ok() {
	"$1/bin/python" -c "import sys, synapse, synapse.app.homeserver, psycopg2; sys.exit(0 if synapse.__version__ == '$2' else 3)" \
		>/dev/null 2>&1
}

# setup_synapse [VERSION]: the virtualenv of Synapse VERSION (default: the
# pinned SYNAPSE_VERSION) at $cache/synapse-VERSION, created once under
# $cache/synapse-VERSION.lock, the lock the Rust harness takes too.
setup_synapse() {
	local version=${1:-$SYNAPSE_VERSION}
	local cache venv python
	cache=$(synapse_cache)
	venv=$cache/synapse-$version
	if [ -e "$venv/.synapse-warden-ready" ]; then
		say "Synapse $version: $venv"
		return
	fi
	python=${SYNAPSE_WARDEN_PYTHON:-python3}
	# What pip needs to build psycopg2 (no wheel on PyPI) and a venv.
	local missing=()
	command -v "$python" >/dev/null || missing+=(python3)
	"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
	"$python" -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
		2>/dev/null || missing+=(python3-dev)
	command -v pg_config >/dev/null || missing+=(libpq-dev)
	command -v cc >/dev/null || missing+=(gcc libc6-dev)
	if [ "${#missing[@]}" -gt 0 ]; then
		apt_install "${missing[@]}"
	fi
	mkdir -p "$cache"
	(
		flock 9
		if [ -e "$venv/.synapse-warden-ready" ] || { [ -d "$venv" ] && synapse_venv_ok "$venv" "$version"; }; then
			touch "$venv/.synapse-warden-ready"
			exit 0
		fi
		rm -rf "$venv"
		say "Synapse $version: installing matrix-synapse[postgres] into $venv (about a minute)"
		local log=$venv.install.log
		if ! { "$python" -m venv "$venv" &&
			"$venv/bin/pip" install --disable-pip-version-check --no-input \
				"matrix-synapse[postgres]==$version"; } >"$log" 2>&1 </dev/null; then
			tail -n 30 "$log" >&2
			die "installing Synapse $version failed; full log in $log"
		fi
		synapse_venv_ok "$venv" "$version" || die "the new virtualenv $venv cannot import Synapse $version; see $log"
		printf 'matrix-synapse[postgres]==%s\n' "$version" >"$venv/.synapse-warden-ready"
	) 9>"$venv.lock"
	say "Synapse $version: $venv"
}


# --- The Synapse module of this checkout --------------------------------------

# synapse_python [VERSION]: the python of Synapse VERSION's virtualenv
# (default: the pinned one), after setup_synapse.
synapse_python() {
	printf '%s\n' "$(synapse_cache)/synapse-${1:-$SYNAPSE_VERSION}/bin/python"
}

# setup_quota_module [VERSION]: installs synapse-module/ (synapse_warden_quota)
# from the checkout into Synapse VERSION's virtualenv (default: the pinned
# one), under the virtualenv's lock. The Rust harness does the same when its
# sources changed (crates/test-support/src/synapse.rs).
setup_quota_module() {
	local python venv log
	python=$(synapse_python "${1:-}")
	venv=$(dirname "$(dirname "$python")")
	log=$venv.module-install.log
	(
		flock 9
		if ! "$venv/bin/pip" install --disable-pip-version-check --no-input --no-deps \
			--force-reinstall ./synapse-module >"$log" 2>&1 </dev/null; then
			tail -n 30 "$log" >&2
			die "installing ./synapse-module into $venv failed; full log in $log"
		fi
	) 9>"$venv.lock"
	say "synapse-warden-quota (./synapse-module) installed into $venv"
}
