#!/usr/bin/env bash
# Time from a revocation's answer to the guard's first refusal, across real Caddy
# processes: node A and node B (oauth_server on one PostgreSQL), a guard following node
# A's feed, the token revoked on node B (TestRevocationOnOneNodeReachesAGuardFollowingAnother),
# and one server with a guard following it on each store (TestRevocationReachesGuardsThroughTheFeed).
# Each test prints p50, p99 and max over 200 revocations; this script runs them on the
# machine as it is, then again with every core kept busy by a bounded busy loop, and prints
# the figures side by side. Target: p99 ≤ 250 ms, loaded or not.
# Usage (from the repository root): bash bench/revocation_latency.sh [repeats]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
repeats="${1:-2}"
tests='^(TestRevocationOnOneNodeReachesAGuardFollowingAnother|TestRevocationReachesGuardsThroughTheFeed)$'

busy=()
stop_busy() {
	for p in "${busy[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	busy=()
}
trap stop_busy EXIT INT TERM

measure() {
	for _ in $(seq 1 "$repeats"); do
		go test -count=1 -run "$tests" -v ./integration/ 2>&1 |
			grep -oE '(revoked on node B|revoke answered)[^:]*: p50 .*|--- FAIL.*' |
			sed "s/^/  $1: /"
	done
}

go test -count=1 -run '^$' ./integration/ >/dev/null # build the test binary first
echo "machine as it is (load average $(cut -d' ' -f1 /proc/loadavg)):"
measure as-is
for _ in $(seq 1 "$(nproc)"); do
	timeout 600 sh -c 'while :; do :; done' &
	busy+=("$!")
done
sleep 1
echo "every core busy ($(nproc) busy loops, load average $(cut -d' ' -f1 /proc/loadavg)):"
measure loaded
