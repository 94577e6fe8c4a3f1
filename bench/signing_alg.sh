#!/usr/bin/env bash
# What the signing algorithm costs, in one run (loopback only, about a minute): the
# client_credentials issuance rate of one oauth_server per algorithm (RS256, EdDSA,
# ES256; SQLite, one client) with the server's CPU per token, and the raw sign and verify
# cost of each algorithm (bench/rawcrypto). The guard's cost per new token of each
# algorithm is bench/guard_cost.sh's. Usage: bench/signing_alg.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
THREADS=2
source bench/common.sh

echo "raw signature cost on this machine, now:"
go run ./bench/rawcrypto

algs=(RS256 EdDSA ES256)
ports=(9220 9221 9222)
rm -f "$WORK"/alg-*.db*
{
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n'
	for i in "${!algs[@]}"; do
		server_site "${ports[$i]}" "storage sqlite $PWD/$WORK/alg-${algs[$i]}.db
		signing_alg ${algs[$i]}"
	done
} >"$WORK/alg.caddyfile"
start auth "$WORK/alg.caddyfile"
for p in "${ports[@]}"; do wait_port "$p"; done
AUTH=$(cat "$WORK/auth.pid")
issue_lua "$SECRET"
for p in "${ports[@]}"; do wrk -t1 -c4 -d1s -s "$WORK/issue.lua" "http://127.0.0.1:$p/oauth/token" >/dev/null; done

declare -A rsum csum
printf "\n%-6s %-6s %10s %14s\n" round alg tokens/s "CPU us/token"
for r in $(seq 1 "$ROUNDS"); do
	for i in "${!algs[@]}"; do
		c0=$(proc_cpu "$AUTH")
		out=$(wrk -t$THREADS -c16 -d${DUR}s -s "$WORK/issue.lua" "http://127.0.0.1:${ports[$i]}/oauth/token")
		c1=$(proc_cpu "$AUTH")
		if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; exit 1; fi
		rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		n=$(echo "$out" | awk '/requests in/ {print $1}')
		us=$(awk -v c0="$c0" -v c1="$c1" -v n="$n" -v t="$TCK" 'BEGIN {printf "%.1f", (c1-c0)/t*1e6/n}')
		printf "%-6s %-6s %10.0f %14s\n" "$r" "${algs[$i]}" "$rps" "$us"
		rsum[${algs[$i]}]=$(awk -v a="${rsum[${algs[$i]}]:-0}" -v b="$rps" 'BEGIN {print a+b}')
		csum[${algs[$i]}]=$(awk -v a="${csum[${algs[$i]}]:-0}" -v b="$us" 'BEGIN {print a+b}')
	done
done
printf "\nmeans of %d rounds (load %s):\n" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
for a in "${algs[@]}"; do
	printf "%-6s %10.0f tokens/s %10.1f us CPU/token\n" "$a" "$(awk -v s="${rsum[$a]}" -v n="$ROUNDS" 'BEGIN {print s/n}')" "$(awk -v s="${csum[$a]}" -v n="$ROUNDS" 'BEGIN {print s/n}')"
done
