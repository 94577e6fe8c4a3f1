#!/usr/bin/env bash
# Memory of the guard's token cache at scale (loopback only, bounded: about 6 minutes):
# a guard with cache_size 1000000 is sent N distinct tokens (default 1,000,000), each
# twice, so that every one is cached (a token is cached on its second sighting); then the
# gateway's RSS (at start and at the end), its Go heap and its count of cached tokens are
# printed. EdDSA tokens: the fastest to mint here.
# Usage: bench/cache_rss.sh [tokens]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
CONC=32
THREADS=2
source bench/common.sh

if [ ! -s "$WORK/rss-tokens.txt" ] || [ "$(wc -l <"$WORK/rss-tokens.txt")" -ne "$N" ] || [ -n "$(find "$WORK/rss-tokens.txt" -mmin +40)" ]; then
	echo "minting $N EdDSA tokens..."
	go run ./bench/mint -n "$N" -alg EdDSA -jwks "$WORK/rss.jwks" -out "$WORK/rss-tokens.txt" -issuer http://127.0.0.1:9100
fi

write_upstream
cat >"$WORK/rss-gateway.caddyfile" <<CF
{
	admin 127.0.0.1:9290
	auto_https off
	persist_config off
}
http://127.0.0.1:9230 {
	oauth_guard {
		jwks $PWD/$WORK/rss.jwks
		issuer http://127.0.0.1:9100
		cache_size 1000000
	}
	reverse_proxy 127.0.0.1:9200
}
CF
start upstream "$WORK/upstream.caddyfile"
start gateway "$WORK/rss-gateway.caddyfile"
wait_port 9200; wait_port 9230
GW=$(cat "$WORK/gateway.pid")
rss() { awk '/VmRSS/ {print $2}' "/proc/$GW/status"; }
echo "gateway RSS at start: $(rss) kB"
# Each connection's requests cover its tokens twice; 2N requests in all, then wrk stops
# (it runs until its duration: the duration is generous, and the count is checked).
secs=$((2 * N / 2000 + 30))
out=$(TOKEN_FILE=$WORK/rss-tokens.txt THREADS=$THREADS REPEAT=2 wrk -t$THREADS -c16 -d${secs}s -s "$WORK/rotate.lua" http://127.0.0.1:9230/orders &
	pid=$!
	# Stop wrk once 2N requests have gone through the guard.
	while kill -0 $pid 2>/dev/null; do
		n=$(curl -s http://127.0.0.1:9290/metrics | awk '/^caddy_oauth_guard_requests_total/ {s += $2} END {print s + 0}')
		if [ "${n%.*}" -ge $((2 * N)) ]; then kill -INT $pid; fi
		sleep 2
	done
	wait $pid || true)
echo "$out" | grep -E "requests in|Requests/sec|Non-2xx" || true
curl -s http://127.0.0.1:9290/metrics | grep -E '^caddy_oauth_guard_(requests_total\{reason="pass"|cache_hits_total\{mode="jwt"|cache_misses_total\{mode="jwt"|cached_tokens)' || true
curl -s http://127.0.0.1:9290/debug/vars | tr ',' '\n' | grep -E '"(HeapAlloc|HeapInuse|HeapSys|NumGC)"' || true
echo "gateway RSS after $N tokens, each used twice: $(rss) kB"
