#!/usr/bin/env bash
# What a DPoP proof costs at the guard, against plain Caddy and a cached Bearer token in
# the same run (loopback only, bounded: a fixed number of requests per scenario, about a
# minute with the defaults).
#
# One gateway Caddy serves, in front of one upstream Caddy (9200):
#   9301  plain reverse_proxy
#   9302  oauth_guard (ES256 JWKS), one plain Bearer token, cached
#   9303  oauth_guard, one DPoP-bound token (cnf.jkt), cached, with a NEW ES256 proof on
#         every request (each proof its own jti, as a DPoP client sends them)
#   9304  as 9303 with dpop_nonce: the driver gets a nonce first and puts it in every proof
# The load driver is bench/dpopload, not wrk: it signs the run's proofs before the timed
# part (a proof is accepted once, so they cannot be cycled), then sends exactly N
# requests over CONC connections; any answer other than 2xx fails the run. The gateway's
# CPU per request comes from /proc. The line to read: "DPoP - Bearer" = what checking a
# proof adds per request (its ES256 signature check first; compare bench/rawcrypto).
#
# Usage: bench/guard_dpop.sh [requests-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-3}
CONC=${CONC:-32}
source bench/common.sh

go build -o "$WORK/dpopload" ./bench/dpopload
"$WORK/dpopload" mint -jwks "$WORK/dpop.jwks" -issuer http://127.0.0.1:9100 -dir "$WORK"

echo "raw signature cost on this machine, now:"
go run ./bench/rawcrypto | tee "$WORK/rawcrypto.txt"
raw() { awk -v a="$1" '$1 == a {print $2}' "$WORK/rawcrypto.txt"; }

write_upstream
guard_site() { # port extra-option
	cat <<CF
http://127.0.0.1:$1 {
	oauth_guard {
		jwks $PWD/$WORK/dpop.jwks
		issuer http://127.0.0.1:9100
		scopes all orders:read
		$2
	}
	reverse_proxy 127.0.0.1:9200
}
CF
}
{
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n'
	cat <<CF
http://127.0.0.1:9301 {
	reverse_proxy 127.0.0.1:9200
}
CF
	guard_site 9302 ""
	guard_site 9303 ""
	guard_site 9304 dpop_nonce
} >"$WORK/dpop-gateway.caddyfile"

start upstream "$WORK/upstream.caddyfile"
wait_port 9200

# nonce_of <port>: the DPoP-Nonce the guard hands a proof without one.
nonce_of() {
	"$WORK/dpopload" run -url "http://127.0.0.1:$1/orders" -token "$WORK/dpop.txt" -dpop-key "$WORK/dpop-key.pem" -n 1 -c 1 -print-nonce
}

# measure <port> <driver args...> -> prints "rps cpu_us_per_req"
measure() {
	local port=$1 c0 c1 out
	shift
	c0=$(proc_cpu "$GW")
	out=$("$WORK/dpopload" run -url "http://127.0.0.1:$port/orders" -n "$N" -c "$CONC" "$@")
	c1=$(proc_cpu "$GW")
	echo "$out" | awk -v c0="$c0" -v c1="$c1" -v t="$TCK" '{printf "%.0f %.1f\n", $3, (c1-c0)/t*1e6/$1}'
}

declare -A rps_sum cpu_sum
names=(plain bearer dpop nonce)
printf "\n%-6s" round; for n in "${names[@]}"; do printf " %16s" "$n rps/us"; done; echo
for r in $(seq 1 "$ROUNDS"); do
	start gateway "$WORK/dpop-gateway.caddyfile"; GW=$(cat "$WORK/gateway.pid")
	for p in 9301 9302 9303 9304; do wait_port "$p"; done
	# Warm-up: keys loaded, tokens cached (a token is cached on its second use),
	# upstream connections open.
	for p in 9301 9302; do "$WORK/dpopload" run -url "http://127.0.0.1:$p/orders" -token "$WORK/bearer.txt" -n 200 -c 4 >/dev/null; done
	"$WORK/dpopload" run -url http://127.0.0.1:9303/orders -token "$WORK/dpop.txt" -dpop-key "$WORK/dpop-key.pem" -n 200 -c 4 >/dev/null
	nonce=$(nonce_of 9304)
	"$WORK/dpopload" run -url http://127.0.0.1:9304/orders -token "$WORK/dpop.txt" -dpop-key "$WORK/dpop-key.pem" -nonce "$nonce" -n 200 -c 4 >/dev/null
	# Even rounds run the scenarios in reverse order, so that none always runs last (the
	# replay cache grows through a round, and the machine's load moves).
	order=("${names[@]}")
	if ((r % 2 == 0)); then order=(nonce dpop bearer plain); fi
	declare -A line=()
	for n in "${order[@]}"; do
		case $n in
		plain) read -r rps us < <(measure 9301 -token "$WORK/bearer.txt") ;;
		bearer) read -r rps us < <(measure 9302 -token "$WORK/bearer.txt") ;;
		dpop) read -r rps us < <(measure 9303 -token "$WORK/dpop.txt" -dpop-key "$WORK/dpop-key.pem") ;;
		nonce) read -r rps us < <(measure 9304 -token "$WORK/dpop.txt" -dpop-key "$WORK/dpop-key.pem" -nonce "$(nonce_of 9304)") ;;
		esac
		line[$n]="$rps/$us"
		rps_sum[$n]=$(awk -v a="${rps_sum[$n]:-0}" -v b="$rps" 'BEGIN {print a+b}')
		cpu_sum[$n]=$(awk -v a="${cpu_sum[$n]:-0}" -v b="$us" 'BEGIN {print a+b}')
	done
	printf "%-6s" "$r"; for n in "${names[@]}"; do printf " %16s" "${line[$n]}"; done
	echo "   (gateway RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$GW/status), load $(cut -d' ' -f1 /proc/loadavg))"
	kill "$GW"; wait "$GW" 2>/dev/null || true
done

mean() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN {printf "%.1f", s/n}'; }
pr=$(mean "${rps_sum[plain]}"); bc=$(mean "${cpu_sum[bearer]}")
printf "\n%-44s %9s %8s %10s %14s\n" "means of $ROUNDS rounds, $N requests each" "req/s" "x plain" "CPU us/req" "+ vs Bearer"
for n in "${names[@]}"; do
	rps=$(mean "${rps_sum[$n]}"); us=$(mean "${cpu_sum[$n]}")
	case $n in
	plain) label="plain reverse_proxy" ;;
	bearer) label="oauth_guard, cached Bearer token" ;;
	dpop) label="oauth_guard, cached DPoP token, new proof" ;;
	nonce) label="... with dpop_nonce" ;;
	esac
	awk -v l="$label" -v r="$rps" -v p="$pr" -v u="$us" -v b="$bc" -v n="$n" 'BEGIN {
		plus = (n == "dpop" || n == "nonce") ? sprintf("%.1f", u - b) : ""
		printf "%-44s %9.0f %8.3f %10.1f %14s\n", l, r, r/p, u, plus }'
done
echo "raw ES256 verify on this machine: $(raw ES256) us (bench/rawcrypto above)"
