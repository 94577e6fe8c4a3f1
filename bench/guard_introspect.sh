#!/usr/bin/env bash
# The guard's introspection mode with a warm cache against plain Caddy reverse_proxy,
# interleaved in one run (as bench/load.sh does for JWT mode), loopback only, bounded in
# time (about 80 s with the defaults), cleaning up its processes on exit.
#
# Processes: an upstream answering "ok" (9400), oauth_server on SQLite (9401), and the
# gateway (9402 plain reverse_proxy, 9403 oauth_guard in introspection mode with Basic
# credentials and cache_ttl 10m, 9404 oauth_guard in JWT mode for comparison, all
# proxying to the upstream). 2,000 client_credentials
# tokens are minted and each is sent through the guard once, so every measured request
# is a cache hit; the auth server's CPU during each guard run shows it was not asked.
#
# Usage: bench/guard_introspect.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONC=${CONC:-32}
THREADS=2
NTOK=${NTOK:-2000}
source bench/common.sh

SVC_SECRET=svc-secret-0123456789abcdef012345678
EDGE_SECRET=edge-secret-0123456789abcdef0123456
GLOBALS=$'{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n'
rm -f "$WORK/guard-introspect.db"*
cat >"$WORK/gi-upstream.caddyfile" <<CF
$GLOBALS
http://127.0.0.1:9400 {
	respond "ok"
}
CF
cat >"$WORK/gi-auth.caddyfile" <<CF
$GLOBALS
http://127.0.0.1:9401 {
	oauth_server {
		issuer http://127.0.0.1:9401
		storage sqlite $PWD/$WORK/guard-introspect.db
		scope orders:read Read orders
		default_scope orders:read
		# Load from one client and one address: the token endpoint's limits would answer 429.
		token_rate_limit {
			per_client off
			per_ip off
		}
		client svc {
			secret $SVC_SECRET
			grants client_credentials
		}
		client edge {
			secret $EDGE_SECRET
			grants client_credentials
			introspect
		}
	}
}
CF
cat >"$WORK/gi-gateway.caddyfile" <<CF
$GLOBALS
http://127.0.0.1:9402 {
	reverse_proxy 127.0.0.1:9400
}
http://127.0.0.1:9403 {
	oauth_guard {
		introspect http://127.0.0.1:9401/oauth/introspect {
			client_id edge
			client_secret $EDGE_SECRET
			cache_ttl 10m
		}
		scopes all orders:read
	}
	reverse_proxy 127.0.0.1:9400
}
http://127.0.0.1:9404 {
	oauth_guard {
		jwks http://127.0.0.1:9401/.well-known/jwks.json
		issuer http://127.0.0.1:9401
		scopes all orders:read
	}
	reverse_proxy 127.0.0.1:9400
}
CF
start upstream "$WORK/gi-upstream.caddyfile"
start auth "$WORK/gi-auth.caddyfile"
start gateway "$WORK/gi-gateway.caddyfile"
for p in 9400 9401 9402 9403 9404; do wait_port $p; done
GW=$(cat "$WORK/gateway.pid")
AUTH=$(cat "$WORK/auth.pid")

echo "minting $NTOK client_credentials tokens..."
awk -v n="$NTOK" -v s="$SVC_SECRET" 'BEGIN {for (i = 1; i <= n; i++) printf "url = \"http://127.0.0.1:9401/oauth/token?n=%d\"\nuser = \"svc:%s\"\ndata = \"grant_type=client_credentials\"\nsilent\n%s", i, s, (i < n ? "next\n" : "")}' >"$WORK/gi-mint.cfg"
timeout 120 curl --parallel --parallel-max 16 -K "$WORK/gi-mint.cfg" 2>/dev/null | grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 >"$WORK/gi-tokens.txt"
[ "$(wc -l <"$WORK/gi-tokens.txt")" -eq "$NTOK" ] || { echo "minted $(wc -l <"$WORK/gi-tokens.txt") tokens, want $NTOK" >&2; exit 1; }
head -1 "$WORK/gi-tokens.txt" >"$WORK/gi-one-token.txt"


cpu() { proc_cpu "$1"; }
# run <port> <lua> <token-file> -> "rps gateway-us/req auth-us/req"
run() {
	local c0 c1 a0 a1 out reqs rps
	c0=$(cpu "$GW"); a0=$(cpu "$AUTH")
	out=$(TOKEN_FILE=$3 THREADS=$THREADS wrk -t$THREADS -c$CONC -d${DUR}s -s "$2" "http://127.0.0.1:$1/orders")
	c1=$(cpu "$GW"); a1=$(cpu "$AUTH")
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "errors on port $1:" >&2; echo "$out" >&2; exit 1; fi
	awk -v r="$rps" -v c0="$c0" -v c1="$c1" -v a0="$a0" -v a1="$a1" -v n="$reqs" -v t="$TCK" \
		'BEGIN {printf "%.0f %.1f %.2f\n", r, (c1-c0)/t*1e6/n, (a1-a0)/t*1e6/n}'
}

# Warm the cache: every token through the guard once (one connection, so the whole file
# is covered in order), then the pools.
TOKEN_FILE=$WORK/gi-tokens.txt THREADS=1 wrk -t1 -c8 -d4s -s "$WORK/rotate.lua" http://127.0.0.1:9403/orders | grep -q "Non-2xx" && { echo "the warm-up pass was refused" >&2; exit 1; }
TOKEN_FILE=$WORK/gi-tokens.txt THREADS=1 wrk -t1 -c$CONC -d1s -s "$WORK/rotate.lua" http://127.0.0.1:9403/orders >/dev/null
TOKEN_FILE=$WORK/gi-tokens.txt THREADS=1 wrk -t1 -c8 -d2s -s "$WORK/rotate.lua" http://127.0.0.1:9404/orders >/dev/null
TOKEN_FILE=$WORK/gi-one-token.txt wrk -t1 -c$CONC -d1s http://127.0.0.1:9402/orders >/dev/null

echo "load before the run: $(uptime)"
printf "%-6s %-20s %9s %8s | %9s %8s %8s %6s | %9s %8s %6s\n" round scenario plain_rps us/req intro_rps us/req auth_us ratio jwt_rps us/req ratio
declare -A sum cpus
for r in $(seq 1 "$ROUNDS"); do
	for scen in same rotate; do
		tf=$WORK/gi-one-token.txt
		[ $scen = rotate ] && tf=$WORK/gi-tokens.txt
		read -r prps pcpu _ < <(run 9402 "$WORK/$scen.lua" "$tf")
		read -r grps gcpu acpu < <(run 9403 "$WORK/$scen.lua" "$tf")
		read -r jrps jcpu _ < <(run 9404 "$WORK/$scen.lua" "$tf")
		ratio=$(awk -v g="$grps" -v p="$prps" 'BEGIN {printf "%.3f", g/p}')
		jratio=$(awk -v g="$jrps" -v p="$prps" 'BEGIN {printf "%.3f", g/p}')
		name="repeated token"; [ $scen = rotate ] && name="$NTOK tokens, cached"
		printf "%-6s %-20s %9s %8s | %9s %8s %8s %6s | %9s %8s %6s\n" "$r" "$name" "$prps" "$pcpu" "$grps" "$gcpu" "$acpu" "$ratio" "$jrps" "$jcpu" "$jratio"
		sum[$scen]=$(awk -v a="${sum[$scen]:-0}" -v b="$ratio" 'BEGIN {print a+b}')
		sum[$scen-jwt]=$(awk -v a="${sum[$scen-jwt]:-0}" -v b="$jratio" 'BEGIN {print a+b}')
		for k in p g j; do
			v=${k}cpu
			cpus[$k]=$(awk -v a="${cpus[$k]:-0}" -v b="${!v}" 'BEGIN {print a+b}')
		done
	done
done
echo "load after the run:  $(uptime)"
echo "gateway RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$GW/status)"
mean() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN {printf "%.3f", s/n}'; }
echo "mean guard/plain ratio, repeated token: introspection mode $(mean "${sum[same]}"), JWT mode $(mean "${sum[same-jwt]}") (target >= 0.97)"
echo "mean guard/plain ratio, $NTOK tokens:   introspection mode $(mean "${sum[rotate]}"), JWT mode $(mean "${sum[rotate-jwt]}")"
# Throughput ratios swing with whatever else the machine runs; CPU per request does not.
awk -v p="${cpus[p]}" -v g="${cpus[g]}" -v j="${cpus[j]}" -v n=$((ROUNDS * 2)) 'BEGIN {
	printf "mean gateway CPU per request: plain %.1f us, introspection mode %.1f us (plain/guard %.3f), JWT mode %.1f us (plain/guard %.3f)\n", p/n, g/n, p/g, j/n, p/j }'
