#!/usr/bin/env bash
# client_credentials issuance (POST /oauth/token) on SQLite and on PostgreSQL, loopback
# only, bounded in time, cleaning up its processes and its Postgres schema on exit.
#
# One Caddy process serves two oauth_server sites: SQLite (9410) and PostgreSQL (9411).
# Each round runs the two one after another with the same wrk script, so a loaded shared
# machine weighs on both alike. For each run it prints tokens/s, the mean latency, the
# Caddy process's CPU per token and PostgreSQL's CPU per token: the CPU ticks of every
# `postgres` process on the machine (backends, WAL writer, checkpointer...), read from
# /proc before and after, so other work on the cluster during the run counts too.
# Every token is committed before it is answered (the stores' group commit).
#
# BASE_BIN=<caddy binary> also runs that binary (say, built from the main branch) as a
# second process on 9420/9421 with its own SQLite file and schema, interleaved in the
# same rounds, to compare before and after under the same load.
#
# Usage: bench/issuance.sh [seconds-per-run] [rounds]   (CONC=connections, default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONC=${CONC:-16}
THREADS=2
SCHEMA=oauth_bench_issuance
PSQL=(psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test)

extra_cleanup() { "${PSQL[@]}" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; DROP SCHEMA IF EXISTS ${SCHEMA}_base CASCADE" >/dev/null 2>&1 || true; }
source bench/common.sh

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; fi
"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA; DROP SCHEMA IF EXISTS ${SCHEMA}_base CASCADE; CREATE SCHEMA ${SCHEMA}_base" >/dev/null
rm -f "$WORK/issuance.db"* "$WORK/issuance-base.db"*

{
	# PPROF=1: Caddy's admin endpoint on 127.0.0.1:2419, for /debug/pprof/profile.
	if [ -n "${PPROF:-}" ]; then admin="admin 127.0.0.1:2419"; else admin="admin off"; fi
	printf '{\n\t%s\n\tauto_https off\n\tpersist_config off\n}\n' "$admin"
	server_site 9410 "storage sqlite $PWD/$WORK/issuance.db"
	server_site 9411 "storage postgres \"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$SCHEMA\""
} >"$WORK/issuance.caddyfile"
start auth "$WORK/issuance.caddyfile"
wait_port 9410
wait_port 9411
AUTH=$(cat "$WORK/auth.pid")
# port -> "name pid schema"
declare -A SITE=([9410]="sqlite $AUTH -" [9411]="postgres $AUTH $SCHEMA")
PORTS=(9410 9411)
if [ -n "${BASE_BIN:-}" ]; then
	{
		printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n'
		server_site 9420 "storage sqlite $PWD/$WORK/issuance-base.db"
		server_site 9421 "storage postgres \"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=${SCHEMA}_base\""
	} >"$WORK/issuance-base.caddyfile"
	XDG_DATA_HOME=$WORK/data XDG_CONFIG_HOME=$WORK/config "$BASE_BIN" run --config "$WORK/issuance-base.caddyfile" --adapter caddyfile >"$WORK/base.log" 2>&1 &
	pids+=($!)
	BASE=$!
	wait_port 9420
	wait_port 9421
	SITE[9420]="base-sqlite $BASE -"
	SITE[9421]="base-postgres $BASE ${SCHEMA}_base"
	PORTS=(9420 9410 9421 9411)
fi
cat >"$WORK/issuance.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=orders:read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)"
LUA

# pg_ticks: "pid ticks" (user+system) of every postgres process.
pg_ticks() { local p; for p in $(pgrep -x postgres); do echo "$p $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)"; done; }
# pg_delta <before> <after>: CPU ticks all postgres processes used in between; one started
# meanwhile (or a pid reused: fewer ticks than before) counts from zero, one that ended
# meanwhile (another user's session) loses its ticks of the run.
pg_delta() { awk 'NR == FNR {t[$1] = $2; next} {x = $2 - t[$1]; if (x < 0) x = $2; d += x} END {print d + 0}' <(echo "$1") <(echo "$2"); }
# run <port> <pid> -> "tokens/s latency caddy-us/token pg-us/token"
run() {
	local c0 c1 p0 p1 out n rps lat
	c0=$(proc_cpu "$2"); p0=$(pg_ticks)
	out=$(wrk -t$THREADS -c"$CONC" -d"${DUR}"s -s "$WORK/issuance.lua" "http://127.0.0.1:$1/oauth/token")
	c1=$(proc_cpu "$2"); p1=$(pg_delta "$p0" "$(pg_ticks)"); p0=0
	if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "errors on port $1:" >&2; echo "$out" >&2; exit 1; fi
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	n=$(echo "$out" | awk '/requests in/ {print $1}')
	lat=$(echo "$out" | awk '/Latency/ {print $2}')
	awk -v r="$rps" -v l="$lat" -v c0="$c0" -v c1="$c1" -v p0="$p0" -v p1="$p1" -v n="$n" -v t="$TCK" \
		'BEGIN {printf "%.0f %s %.1f %.1f\n", r, l, (c1-c0)/t*1e6/n, (p1-p0)/t*1e6/n}'
}

# Warm up: connection pools, Postgres backends, the client's secret check.
for port in "${PORTS[@]}"; do wrk -t1 -c4 -d1s -s "$WORK/issuance.lua" "http://127.0.0.1:$port/oauth/token" >/dev/null; done

if [ -n "${PPROF:-}" ]; then
	# PPROF=1: a 10-second CPU profile of each store under load, instead of the rounds.
	for port in 9410 9411; do
		store=sqlite; [ $port = 9411 ] && store=postgres
		wrk -t$THREADS -c"$CONC" -d12s -s "$WORK/issuance.lua" "http://127.0.0.1:$port/oauth/token" >/dev/null &
		w=$!
		sleep 1
		curl -s -o "$WORK/issuance-$store.prof" "http://127.0.0.1:2419/debug/pprof/profile?seconds=10"
		wait "$w"
		echo "profile: $WORK/issuance-$store.prof"
	done
	exit 0
fi

echo "load before the run: $(uptime)"
printf "%-6s %-14s %9s %9s %15s %13s\n" round store tokens/s latency caddy_us/token pg_us/token
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
	for port in "${PORTS[@]}"; do
		read -r store pid _ <<<"${SITE[$port]}"
		read -r rps lat ccpu pcpu < <(run "$port" "$pid")
		[[ $store == *sqlite ]] && pcpu="($pcpu)"
		printf "%-6s %-14s %9s %9s %15s %13s\n" "$r" "$store" "$rps" "$lat" "$ccpu" "$pcpu"
		sum[$store]=$(awk -v a="${sum[$store]:-0}" -v b="$rps" 'BEGIN {print a+b}')
	done
done
echo "load after the run:  $(uptime)"
echo "(pg_us/token in parentheses for SQLite: PostgreSQL's CPU meanwhile, not the store's)"
# Every answered token is in the store (the warm-up's included).
for port in "${PORTS[@]}"; do
	read -r store _ schema <<<"${SITE[$port]}"
	[ "$schema" = - ] && continue
	echo "tokens stored in PostgreSQL by $store: $("${PSQL[@]}" -At -c "SELECT count(*) FROM $schema.access_tokens")"
done
for port in "${PORTS[@]}"; do
	read -r store _ _ <<<"${SITE[$port]}"
	printf "mean tokens/s on %-14s %8.0f (target 3600, 15x Hydra's ~240)\n" "$store" "$(awk -v s="${sum[$store]}" -v n="$ROUNDS" 'BEGIN {print s/n}')"
done
echo "Caddy RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$AUTH/status)"
