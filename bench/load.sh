#!/usr/bin/env bash
# Load test on loopback only, bounded in time: plain Caddy reverse_proxy against Caddy
# with oauth_guard in front of the same upstream, interleaved, printing the req/s ratio
# and the gateway's CPU per request (bench/guard_cost.sh also compares plain Caddy
# setting the same headers, per algorithm). Usage: bench/load.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONC=${CONC:-32}
THREADS=2
source bench/common.sh

echo "minting 200000 ES256 tokens..."
go run ./bench/mint -n 200000 -jwks "$WORK/jwks.json" -out "$WORK/tokens.txt" -issuer http://127.0.0.1:9100
head -1 "$WORK/tokens.txt" >"$WORK/one-token.txt"

cat >"$WORK/upstream.caddyfile" <<CF
{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:9200 {
	respond "ok"
}
CF
cat >"$WORK/gateway.caddyfile" <<CF
{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:9201 {
	reverse_proxy 127.0.0.1:9200
}
http://127.0.0.1:9202 {
	oauth_guard {
		jwks $PWD/$WORK/jwks.json
		issuer http://127.0.0.1:9100
		scopes all orders:read
		cache_size 300000
	}
	reverse_proxy 127.0.0.1:9200
}
CF
start upstream "$WORK/upstream.caddyfile"
start gateway "$WORK/gateway.caddyfile"
wait_port 9200
wait_port 9201
wait_port 9202
GW=$(cat "$WORK/gateway.pid")


cpu() { proc_cpu "$GW"; }
# run <port> <lua> <token-file> -> prints "rps cpu_us_per_req"
run() {
	local c0 c1 out reqs rps
	c0=$(cpu)
	out=$(TOKEN_FILE=$3 THREADS=$THREADS wrk -t$THREADS -c$CONC -d${DUR}s -s "$2" "http://127.0.0.1:$1/orders")
	c1=$(cpu)
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	if echo "$out" | grep -q "Non-2xx"; then echo "non-2xx answers on port $1:" >&2; echo "$out" >&2; exit 1; fi
	awk -v r="$rps" -v c0="$c0" -v c1="$c1" -v n="$reqs" -v t="$TCK" 'BEGIN {printf "%.0f %.1f\n", r, (c1-c0)/t*1e6/n}'
}

# Warm the guard's key set and the upstream connection pools.
TOKEN_FILE=$WORK/one-token.txt wrk -t1 -c4 -d1s -s "$WORK/same.lua" http://127.0.0.1:9202/orders >/dev/null
TOKEN_FILE=$WORK/one-token.txt wrk -t1 -c4 -d1s http://127.0.0.1:9201/orders >/dev/null

printf "\n%-6s %-22s %10s %12s %10s %12s %8s\n" round scenario plain_rps plain_us/req guard_rps guard_us/req ratio
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
	for scen in same rotate; do
		tf=$WORK/one-token.txt
		[ $scen = rotate ] && tf=$WORK/tokens.txt
		read -r prps pcpu < <(run 9201 "$WORK/$scen.lua" "$tf")
		read -r grps gcpu < <(run 9202 "$WORK/$scen.lua" "$tf")
		ratio=$(awk -v g="$grps" -v p="$prps" 'BEGIN {printf "%.3f", g/p}')
		name="repeated token"; [ $scen = rotate ] && name="every token new"
		printf "%-6s %-22s %10s %12s %10s %12s %8s\n" "$r" "$name" "$prps" "$pcpu" "$grps" "$gcpu" "$ratio"
		sum[$scen]=$(awk -v a="${sum[$scen]:-0}" -v b="$ratio" 'BEGIN {print a+b}')
	done
	echo "       gateway RSS after round $r: $(awk '/VmRSS/ {print $2, $3}' /proc/$GW/status)"
	# Restart the gateway so the next round's "every token new" starts on a cold cache.
	kill "$GW"; wait "$GW" 2>/dev/null || true
	start gateway "$WORK/gateway.caddyfile"; GW=$(cat "$WORK/gateway.pid")
	wait_port 9201; wait_port 9202
	TOKEN_FILE=$WORK/one-token.txt wrk -t1 -c4 -d1s -s "$WORK/same.lua" http://127.0.0.1:9202/orders >/dev/null
done
printf "\nmean guard/plain ratio: repeated token %.3f, every token new %.3f (targets >= 0.97 and >= 0.85)\n" \
	"$(awk -v s="${sum[same]}" -v n="$ROUNDS" 'BEGIN {print s/n}')" "$(awk -v s="${sum[rotate]}" -v n="$ROUNDS" 'BEGIN {print s/n}')"

# Issuance is measured by bench/issuance.sh (and against Ory Hydra by bench/hydra.sh).
