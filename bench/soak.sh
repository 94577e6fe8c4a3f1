#!/usr/bin/env bash
# Soak: SOAK_DURATION (default 10m, after a 3-minute warm-up) of mixed load on loopback against one Caddy with
# oauth_server and oauth_guard, first on SQLite, then on PostgreSQL (PG_DSN, default the
# local test database): the guard with repeated and new tokens, issuance on every grant,
# introspection, revocations the guard follows through the feed, and purge_interval
# deleting expired rows meanwhile. bench/soak (Go) drives it and prints per endpoint the
# requests, errors and p50/p99 of the first and last minute, and Caddy's goroutines and
# RSS; it fails on any error or on growth over 10 %.
# Usage (from the repository root): bash bench/soak.sh [sqlite|postgres|both]
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_DURATION=${SOAK_DURATION:-10m}
PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
WHICH=${1:-both}
source bench/common.sh

run_soak() { # name storage-line storage-flag
	local cf="$WORK/soak-$1.caddyfile"
	cat >"$cf" <<CF
{
	admin 127.0.0.1:9509
	auto_https off
	persist_config off
}
http://127.0.0.1:9500 {
	oauth_server {
		issuer http://127.0.0.1:9500
		$2
		access_token_ttl 2m
		purge_interval 30s
		scope orders:read Read orders
		default_scope orders:read
		# One address makes all the load: the token endpoint's limits would answer 429.
		token_rate_limit {
			per_client off
			per_ip off
		}
		login_throttle {
			per_username off
			per_ip off
		}
		client svc {
			secret svc-secret-0123456789abcdef
			grants client_credentials
		}
		client pw {
			secret pw-secret-0123456789abcdef0
			grants password refresh_token
		}
		client web {
			secret web-secret-0123456789abcdef
			grants authorization_code refresh_token
			redirect_uri http://127.0.0.1:9/cb
			first_party
		}
		client rs {
			secret rs-secret-0123456789abcdef0
			grants client_credentials
			introspect
		}
	}
}
http://127.0.0.1:9501 {
	oauth_guard {
		jwks http://127.0.0.1:9500/.well-known/jwks.json
		issuer http://127.0.0.1:9500
		revocations http://127.0.0.1:9500/oauth/revocations {
			client_id rs
			client_secret rs-secret-0123456789abcdef0
		}
		scopes all orders:read
	}
	respond "ok"
}
CF
	echo 'a soak password' | XDG_DATA_HOME=$WORK/data XDG_CONFIG_HOME=$WORK/config \
		"$BIN" oauth user add --config "$cf" --email soak@example.com --password-stdin >/dev/null
	start "soak-$1" "$cf"
	wait_port 9500
	wait_port 9501
	echo "== soak on $1 ($SOAK_DURATION) =="
	local rc=0
	go run ./bench/soak -duration "$SOAK_DURATION" -pid "$WORK/soak-$1.pid" || rc=$?
	kill "$(cat "$WORK/soak-$1.pid")" 2>/dev/null || true
	wait "$(cat "$WORK/soak-$1.pid")" 2>/dev/null || true
	return $rc
}

status=0
if [ "$WHICH" = sqlite ] || [ "$WHICH" = both ]; then
	rm -f "$WORK/soak.db"*
	run_soak sqlite "storage sqlite $PWD/$WORK/soak.db" || status=1
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = both ]; then
	psql "$PG_DSN" -qc 'DROP SCHEMA IF EXISTS soak CASCADE; CREATE SCHEMA soak' >/dev/null
	run_soak postgres "storage postgres \"${PG_DSN}&search_path=soak\"" || status=1
fi
exit $status
