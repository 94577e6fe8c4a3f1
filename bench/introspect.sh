#!/usr/bin/env bash
# Introspection endpoint throughput (RFC 7662, POST /oauth/introspect) on SQLite and on
# PostgreSQL, loopback only, bounded in time (about 90 s with the defaults), cleaning up
# its processes and its Postgres schema on exit.
#
# One Caddy process serves three sites: oauth_server on SQLite (9310), oauth_server on
# Postgres (9311) and a static `respond` of an introspection-sized JSON answer (9312),
# the baseline that tells how much of the machine is left to us. Each round runs the
# three one after another with the same wrk Lua script, so the ratio to the baseline
# holds however loaded the shared machine is.
#
# Tokens: four clients mint 1,000 client_credentials tokens each per store (different
# scope sets); 5% of them are then revoked through /oauth/revoke and 5% more are copies
# with a broken signature, so the mix is 90% active, 10% inactive (revoked: a store
# lookup; forged: refused before the store). Before measuring, every token is
# introspected once, in order, and its answer checked against what it should be; the
# server's CPU over that pass is the cost of a token's first introspection (signature
# check and record read included). The measured runs then introspect tokens seen
# before, as a server behind several guards does: the signature check, the record and
# the encoded answer are remembered, and each request looks for a revocation in the
# server's copy of the revocation log, which it re-reads when a revocation is signalled
# or after authserver.RevocationLag (so pg_us/req is that re-read, near zero). The caller
# is a resource server authenticating with HTTP Basic.
#
# Usage: bench/introspect.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONC=${CONC:-32}
THREADS=2
PER_CLIENT=${PER_CLIENT:-1000}
SCHEMA=oauth_bench_introspect
APP=oauth_bench_introspect
PSQL=(psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d test)

extra_cleanup() { "${PSQL[@]}" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; }
source bench/common.sh

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; fi
"${PSQL[@]}" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA" >/dev/null
rm -f "$WORK/introspect.db"*

RS_SECRET=rs-secret-0123456789abcdef0123456789
SVC_SECRET=svc-secret-0123456789abcdef012345678
server_site() { # port storage
	cat <<CF
http://127.0.0.1:$1 {
	oauth_server {
		issuer http://127.0.0.1:9100
		$2
		scope orders:read Read orders
		scope orders:write Change orders
		scope invoices:read Read invoices
		scope profile Your profile
		default_scope orders:read
		# Load from one client and one address: the token endpoint's limits would answer 429.
		token_rate_limit {
			per_client off
			per_ip off
		}
		client rs {
			secret $RS_SECRET
			grants client_credentials
			introspect
		}
CF
	for i in 1 2 3 4; do
		printf '\t\tclient svc%d {\n\t\t\tsecret %s\n\t\t\tgrants client_credentials\n\t\t}\n' "$i" "$SVC_SECRET"
	done
	printf '\t}\n}\n'
}
{
	# PPROF=1: Caddy's admin endpoint on 127.0.0.1:2418, for /debug/pprof/profile.
	if [ -n "${PPROF:-}" ]; then admin="admin 127.0.0.1:2418"; else admin="admin off"; fi
	printf '{\n\t%s\n\tauto_https off\n\tpersist_config off\n}\n' "$admin"
	server_site 9310 "storage sqlite $PWD/$WORK/introspect.db"
	server_site 9311 "storage postgres \"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$SCHEMA&application_name=$APP\""
	# The baseline: Caddy answering the same POST with an introspection-sized JSON body.
	cat <<'CF'
http://127.0.0.1:9312 {
	header Content-Type application/json
	respond `{"active":true,"scope":"orders:read orders:write","client_id":"svc2","sub":"svc2","token_type":"Bearer","exp":1795000000,"iat":1794996400,"nbf":1794996400,"jti":"0123456789abcdef0123456789abcdef","iss":"http://127.0.0.1:9100","aud":["svc2"]}`
}
CF
} >"$WORK/introspect.caddyfile"
start auth "$WORK/introspect.caddyfile"
wait_port 9310
wait_port 9311
wait_port 9312
AUTH=$(cat "$WORK/auth.pid")

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# rotate.lua: introspects the tokens of TOKEN_FILE in turn, each thread its own share.
cat >"$WORK/introspect-rotate.lua" <<'LUA'
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
	tokens = {}
	local n = tonumber(os.getenv("THREADS"))
	local i = 0
	for line in io.lines(os.getenv("TOKEN_FILE")) do
		local tok = line:match("^%a (.+)$")
		if i % n == id then tokens[#tokens + 1] = "token=" .. tok .. "&token_type_hint=access_token" end
		i = i + 1
	end
	idx = 0
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTH")
function request()
	idx = idx + 1
	if idx > #tokens then idx = 1 end
	return wrk.format(nil, nil, nil, tokens[idx])
end
LUA

# curl_each <user:secret> <url> <file-of-bodies> <out> [curl options]: POSTs each line
# of the file as one request, all from one curl process, and writes each answer's body
# followed by a line "<url>?n=<line-no><TAB><status>". Only sequential runs (no
# --parallel) keep each body next to its status line.
curl_each() {
	awk -v u="$1" -v url="$2" 'NR > 1 {print "next"} {printf "url = \"%s?n=%d\"\nuser = \"%s\"\ndata = \"%s\"\nsilent\nshow-error\nwrite-out = \"\\n%%{url}\\t%%{http_code}\\n\"\n", url, NR, u, $0}' "$3" >"$4.cfg"
	timeout 120 curl "${@:5}" -K "$4.cfg" >"$4" 2>"$4.err"
}
# statuses <out>: line-number and status of each answer, by line number.
statuses() { awk -F'\t' '/^http/ {sub(/.*[?]n=/, "", $1); print $1, $2}' "$1" | sort -n; }

RS_AUTH=$(basic rs "$RS_SECRET")
SVC_SCOPES=("orders:read" "orders:read orders:write" "invoices:read" "orders:read invoices:read profile")
NREV=$((PER_CLIENT / 20))
for port in 9310 9311; do
	store=sqlite; [ $port = 9311 ] && store=postgres
	all=$WORK/introspect-tokens-$store.txt
	: >"$all"
	for i in 1 2 3 4; do
		f=$WORK/introspect-svc$i-$store.txt
		awk -v n="$PER_CLIENT" -v s="${SVC_SCOPES[$((i - 1))]// /%20}" 'BEGIN {for (i = 0; i < n; i++) print "grant_type=client_credentials&scope=" s}' >"$f.mint"
		curl_each "svc$i:$SVC_SECRET" "http://127.0.0.1:$port/oauth/token" "$f.mint" "$f.minted" --parallel --parallel-max 16
		grep -o '"access_token":"[^"]*"' "$f.minted" | cut -d'"' -f4 >"$f"
		[ "$(wc -l <"$f")" -eq "$PER_CLIENT" ] || { echo "minting for svc$i on $store made $(wc -l <"$f") tokens:" >&2; head -3 "$f.minted" >&2; exit 1; }
		# Revoke the first 5% (by their own client, as RFC 7009 wants); forge 5% more by
		# changing a character in the middle of the signature.
		head -n "$NREV" "$f" | sed 's/^/token_type_hint=access_token\&token=/' >"$f.revoke"
		curl_each "svc$i:$SVC_SECRET" "http://127.0.0.1:$port/oauth/revoke" "$f.revoke" "$f.revoked" --parallel --parallel-max 16
		[ "$(statuses "$f.revoked" | grep -c ' 200$')" -eq "$NREV" ] || { echo "revocation failed on $store" >&2; exit 1; }
		awk -v r="$NREV" 'NR <= r {print "I " $0; next} NR <= 2*r {s = substr($0, length($0) - 20, 1); c = (s == "A") ? "B" : "A"; print "I " substr($0, 1, length($0) - 21) c substr($0, length($0) - 19); print "A " $0; next} {print "A " $0}' "$f" >>"$all"
	done
	shuf -o "$all" "$all"
	# Every token introspected once: active for lines tagged A, exactly {"active":false} for I.
	cut -c3- "$all" | sed 's/^/token=/' >"$all.check"
	t0=$(proc_cpu "$AUTH")
	curl_each "rs:$RS_SECRET" "http://127.0.0.1:$port/oauth/introspect" "$all.check" "$all.checked"
	t1=$(proc_cpu "$AUTH")
	act=$(grep -c '^A' "$all"); ina=$(grep -c '^I' "$all")
	ok=$(awk 'NR == FNR {want[NR] = substr($0, 1, 1); next}
		/^http/ {split($0, a, "\t"); sub(/.*[?]n=/, "", a[1]); n = a[1]
			if (a[2] == 200 && ((want[n] == "A" && prev ~ /"active":true/) || (want[n] == "I" && prev == "{\"active\":false}"))) ok++
			next}
		$0 != "" {prev = $0}
		END {print ok + 0}' "$all" "$all.checked")
	echo "$store: $act active and $ina inactive tokens (revoked or forged); introspected each once: $ok of $((act + ina)) answers right," \
		"server CPU $(awk -v d=$((t1 - t0)) -v n=$((act + ina)) -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", d/t*1e6/n}') us per first introspection of a token"
	[ "$ok" -eq $((act + ina)) ] || { echo "wrong introspection answers on $store" >&2; exit 1; }
done

cpu() { proc_cpu "$1"; }
pg_backends() { "${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$APP'"; }
# pg_cpu: "pid ticks" for each of the server's Postgres backends.
pg_cpu() { local p; for p in $(pg_backends); do echo "$p $(cpu "$p" 2>/dev/null || echo 0)"; done; }
# pg_delta <before> <after>: CPU ticks the backends used in between (a backend opened
# meanwhile counts from zero; one closed meanwhile loses its last ticks).
pg_delta() { awk 'NR == FNR {t[$1] = $2; next} {d += $2 - t[$1]} END {print d + 0}' <(echo "$1") <(echo "$2"); }
# run <port> <token-file> -> "rps mean-latency caddy-us/req pg-us/req"
run() {
	local c0 c1 p0 p1 out reqs rps lat
	c0=$(cpu "$AUTH"); p0=$(pg_cpu)
	out=$(TOKEN_FILE=$2 AUTH=$RS_AUTH THREADS=$THREADS wrk -t$THREADS -c$CONC -d${DUR}s -s "$WORK/introspect-rotate.lua" "http://127.0.0.1:$1/oauth/introspect")
	c1=$(cpu "$AUTH"); p1=$(pg_delta "$p0" "$(pg_cpu)"); p0=0
	if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "errors on port $1:" >&2; echo "$out" >&2; exit 1; fi
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	lat=$(echo "$out" | awk '/Latency/ {print $2}')
	awk -v r="$rps" -v l="$lat" -v c0="$c0" -v c1="$c1" -v p0="$p0" -v p1="$p1" -v n="$reqs" -v t="$TCK" \
		'BEGIN {printf "%.0f %s %.1f %.1f\n", r, l, (c1-c0)/t*1e6/n, (p1-p0)/t*1e6/n}'
}

# Warm up: connection pools, the caller cache, Postgres backends.
for port in 9312 9310 9311; do
	TOKEN_FILE=$WORK/introspect-tokens-sqlite.txt AUTH=$RS_AUTH THREADS=1 wrk -t1 -c$CONC -d1s -s "$WORK/introspect-rotate.lua" "http://127.0.0.1:$port/oauth/introspect" >/dev/null
done

if [ -n "${PPROF:-}" ]; then
	# PPROF=1: a 10-second CPU profile of each store under load, instead of the rounds.
	for port in 9310 9311; do
		store=sqlite; [ $port = 9311 ] && store=postgres
		TOKEN_FILE=$WORK/introspect-tokens-$store.txt AUTH=$RS_AUTH THREADS=$THREADS wrk -t$THREADS -c$CONC -d12s -s "$WORK/introspect-rotate.lua" "http://127.0.0.1:$port/oauth/introspect" >/dev/null &
		w=$!
		sleep 1
		curl -s -o "$WORK/introspect-$store.prof" "http://127.0.0.1:2418/debug/pprof/profile?seconds=10"
		wait "$w"
		echo "profile: $WORK/introspect-$store.prof"
	done
	exit 0
fi

echo
echo "load before the run: $(uptime)"
printf "%-6s %-9s %9s %9s %13s %13s %8s\n" round store req/s latency caddy_us/req pg_us/req ratio
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
	read -r brps blat bcpu _ < <(run 9312 "$WORK/introspect-tokens-sqlite.txt")
	printf "%-6s %-9s %9s %9s %13s %13s %8s\n" "$r" baseline "$brps" "$blat" "$bcpu" - 1
	for port in 9310 9311; do
		store=sqlite; [ $port = 9311 ] && store=postgres
		read -r rps lat ccpu pcpu < <(run $port "$WORK/introspect-tokens-$store.txt")
		[ $store = sqlite ] && pcpu=-
		ratio=$(awk -v a="$rps" -v b="$brps" 'BEGIN {printf "%.3f", a/b}')
		printf "%-6s %-9s %9s %9s %13s %13s %8s\n" "$r" "$store" "$rps" "$lat" "$ccpu" "$pcpu" "$ratio"
		sum[$store]=$(awk -v a="${sum[$store]:-0}" -v b="$rps" 'BEGIN {print a+b}')
		sum[$store-ratio]=$(awk -v a="${sum[$store-ratio]:-0}" -v b="$ratio" 'BEGIN {print a+b}')
	done
done
echo "load after the run:  $(uptime)"
echo "Caddy RSS (all three sites): $(awk '/VmRSS/ {print $2, $3}' /proc/$AUTH/status)"
for store in sqlite postgres; do
	printf "mean introspections/s on %-8s %8.0f (%.3f of Caddy's static answer; target 15x Hydra's 1,900-2,600/s: 28,500-39,000)\n" "$store" \
		"$(awk -v s="${sum[$store]}" -v n="$ROUNDS" 'BEGIN {print s/n}')" "$(awk -v s="${sum[$store-ratio]}" -v n="$ROUNDS" 'BEGIN {print s/n}')"
done
