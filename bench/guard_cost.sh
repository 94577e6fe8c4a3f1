#!/usr/bin/env bash
# The guard's CPU cost of a token it has never seen, per signing algorithm, against plain
# Caddy in the same run (loopback only, bounded: about 2 minutes with the defaults).
#
# One gateway Caddy serves, in front of one upstream Caddy:
#   9201  plain reverse_proxy
#   9202  plain reverse_proxy that sets the four identity headers statically
#         (request_header), the floor for a guard, which sets them too
#   9203  oauth_guard, RS256 tokens     9204  oauth_guard, EdDSA tokens
#   9205  oauth_guard, ES256 tokens
#   9206  oauth_guard of the same Caddy as an oauth_server (9207, ES256, the default),
#         tokens issued by that server: the guard knows them from their issuance and
#         checks no signature (guard_issued_tokens.go)
# Every request carries a token never sent before (wrk cycles through freshly minted
# tokens, the gateway restarts each round so no token is seen twice), except in the last
# scenario: the ES256 guard with one token, cached, on every request. The gateway's CPU
# per request comes from /proc; the raw verification cost of each algorithm comes from
# bench/rawcrypto in the same run. The line to read: "beyond the signature" = guard CPU
# - plain-with-headers CPU - raw verify (target: at most 10 us).
#
# Usage: bench/guard_cost.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONC=${CONC:-32}
THREADS=2
N=${N:-60000}
source bench/common.sh

for alg in RS256 EdDSA ES256; do
	if [ ! -s "$WORK/cost-$alg.txt" ] || [ "$(wc -l <"$WORK/cost-$alg.txt")" -lt "$N" ]; then
		echo "minting $N $alg tokens..."
		go run ./bench/mint -n "$N" -alg "$alg" -jwks "$WORK/cost-$alg.jwks" -out "$WORK/cost-$alg.txt" -issuer http://127.0.0.1:9100
	fi
done
# The mint tool writes tokens valid for an hour; remint when older than 50 minutes.
if [ -n "$(find "$WORK" -name 'cost-*.txt' -mmin +50 | head -1)" ]; then
	echo "tokens older than 50 minutes: delete $WORK/cost-*.txt and rerun" >&2
	exit 1
fi

echo "raw signature cost on this machine, now:"
go run ./bench/rawcrypto | tee "$WORK/rawcrypto.txt"
raw() { awk -v a="$1" '$1 == a {print $2}' "$WORK/rawcrypto.txt"; }

write_upstream
guard_site() { # port alg
	cat <<CF
http://127.0.0.1:$1 {
	oauth_guard {
		jwks $PWD/$WORK/cost-$2.jwks
		issuer http://127.0.0.1:9100
		scopes all orders:read
		cache_size 300000
	}
	reverse_proxy 127.0.0.1:9200
}
CF
}
{
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n'
	cat <<CF
http://127.0.0.1:9201 {
	reverse_proxy 127.0.0.1:9200
}
http://127.0.0.1:9202 {
	request_header X-Oauth-User-Id user-1
	request_header X-Oauth-Client-Id bench
	request_header X-Oauth-Scopes "orders:read orders:write"
	request_header X-Oauth-Token-Id jti-1
	reverse_proxy 127.0.0.1:9200
}
CF
	guard_site 9203 RS256
	guard_site 9204 EdDSA
	guard_site 9205 ES256
	server_site 9207 "storage sqlite $PWD/$WORK/cost-server.db
		access_token_ttl 1h"
	cat <<CF
http://127.0.0.1:9206 {
	oauth_guard {
		jwks http://127.0.0.1:9207/.well-known/jwks.json
		issuer http://127.0.0.1:9207
		scopes all orders:read
		cache_size 300000
	}
	reverse_proxy 127.0.0.1:9200
}
CF
} >"$WORK/cost-gateway.caddyfile"
rm -f "$WORK/cost-server.db"*

start upstream "$WORK/upstream.caddyfile"
wait_port 9200

# Tokens of the in-process server: issued once per round (a restart forgets what the
# process issued), before the measured runs.
issue_own() {
	go run ./bench/issue -n "$1" -url http://127.0.0.1:9207/oauth/token -client bench -secret "$SECRET" -scope orders:read -out "$WORK/cost-own.txt"
}

cpu() { proc_cpu "$GW"; }
# run <port> <token-file> [lua] -> prints "rps cpu_us_per_req"
run() {
	local c0 c1 out reqs rps
	c0=$(cpu)
	out=$(TOKEN_FILE=$2 THREADS=$THREADS wrk -t$THREADS -c$CONC -d${DUR}s -s "$WORK/${3:-rotate}.lua" "http://127.0.0.1:$1/orders")
	c1=$(cpu)
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	if echo "$out" | grep -q "Non-2xx"; then echo "non-2xx answers on port $1:" >&2; echo "$out" >&2; exit 1; fi
	awk -v r="$rps" -v c0="$c0" -v c1="$c1" -v n="$reqs" -v t="$TCK" 'BEGIN {printf "%.0f %.1f\n", r, (c1-c0)/t*1e6/n}'
}

declare -A rps_sum cpu_sum
names=(plain headers RS256 EdDSA ES256 own repeat)
ports=(9201 9202 9203 9204 9205 9206 9205)
printf "\n%-6s" round; for n in "${names[@]}"; do printf " %16s" "$n rps/us"; done; echo
for r in $(seq 1 "$ROUNDS"); do
	start gateway "$WORK/cost-gateway.caddyfile"; GW=$(cat "$WORK/gateway.pid")
	for p in "${ports[@]}" 9207; do wait_port "$p"; done
	# Warm the key sets and the upstream connection pools with one token each (the
	# in-process guard loads its server's JWKS; until then it could not know the tokens).
	issue_own 1 >/dev/null
	for i in "${!ports[@]}"; do
		tf=$WORK/cost-ES256.txt
		case ${names[$i]} in RS256|EdDSA|ES256) tf=$WORK/cost-${names[$i]}.txt ;; own) tf=$WORK/cost-own.txt ;; esac
		head -1 "$tf" >"$WORK/cost-warm.txt"
		TOKEN_FILE=$WORK/cost-warm.txt wrk -t1 -c2 -d1s -s "$WORK/same.lua" "http://127.0.0.1:${ports[$i]}/orders" >/dev/null
	done
	head -1 "$WORK/cost-ES256.txt" >"$WORK/cost-warm-ES256.txt"
	issue_own $((DUR * 15000)) >/dev/null
	printf "%-6s" "$r"
	for i in "${!ports[@]}"; do
		tf=$WORK/cost-ES256.txt
		case ${names[$i]} in RS256|EdDSA|ES256) tf=$WORK/cost-${names[$i]}.txt ;; own) tf=$WORK/cost-own.txt ;; esac
		if [ "${names[$i]}" = repeat ]; then
			# One token on every request, cached since the warm-up.
			read -r rps us < <(run "${ports[$i]}" "$WORK/cost-warm-ES256.txt" same)
		else
			# Skip the warm-up token: every measured request carries a new one.
			tail -n +2 "$tf" >"$WORK/cost-run.txt"
			read -r rps us < <(run "${ports[$i]}" "$WORK/cost-run.txt")
		fi
		printf " %16s" "$rps/$us"
		rps_sum[${names[$i]}]=$(awk -v a="${rps_sum[${names[$i]}]:-0}" -v b="$rps" 'BEGIN {print a+b}')
		cpu_sum[${names[$i]}]=$(awk -v a="${cpu_sum[${names[$i]}]:-0}" -v b="$us" 'BEGIN {print a+b}')
	done
	echo "   (gateway RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$GW/status), load $(cut -d' ' -f1 /proc/loadavg))"
	kill "$GW"; wait "$GW" 2>/dev/null || true
done

mean() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN {printf "%.1f", s/n}'; }
pr=$(mean "${rps_sum[plain]}"); hr=$(mean "${rps_sum[headers]}"); hc=$(mean "${cpu_sum[headers]}")
printf "\n%-34s %9s %8s %10s %10s %12s %11s\n" "means of $ROUNDS rounds" "req/s" "x plain" "x headers" "CPU us/req" "+ vs headers" "beyond sig"
for n in "${names[@]}"; do
	rps=$(mean "${rps_sum[$n]}"); us=$(mean "${cpu_sum[$n]}")
	sig=0; label=$n
	case $n in
	RS256|EdDSA|ES256) sig=$(raw "$n"); label="oauth_guard, new $n tokens" ;;
	own) label="oauth_guard, own server's tokens" ;;
	repeat) label="oauth_guard, one repeated token" ;;
	plain) label="plain reverse_proxy" ;;
	headers) label="plain + 4 headers set statically" ;;
	esac
	awk -v l="$label" -v r="$rps" -v p="$pr" -v hr="$hr" -v u="$us" -v h="$hc" -v s="$sig" -v n="$n" 'BEGIN {
		beyond = (n == "plain" || n == "headers" || n == "repeat") ? "" : sprintf("%.1f", u - h - s)
		printf "%-34s %9.0f %8.3f %10.3f %10.1f %12.1f %11s\n", l, r, r/p, r/hr, u, u-h, beyond }'
done
echo "beyond sig = CPU per request - plain-with-headers' - the algorithm's raw verify (bench/rawcrypto above); target <= 10 us"
