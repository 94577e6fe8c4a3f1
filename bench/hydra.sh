#!/usr/bin/env bash
# Ory Hydra v2.3.0 and this project's oauth_server side by side in one run, loopback only,
# bounded in time, interleaved rounds, cleaning up its processes and databases on exit.
#
# 1. client_credentials issuance (POST token endpoint, HTTP Basic client auth, wrk -t2
#    -c16): Hydra on PostgreSQL (opaque tokens, its default; and JWT access tokens,
#    strategies.access_token=jwt, unless HYDRA_JWT=0) against oauth_server on SQLite and on
#    PostgreSQL. Per run: tokens/s, the server process's CPU per token and PostgreSQL's CPU
#    per token (all `postgres` processes of the machine, from /proc, before and after: other
#    users of the shared PostgreSQL count too).
# 2. Introspection (RFC 7662): 2,000 tokens issued on each server first, then wrk -t2 -c32
#    rotating over them. oauth_server: POST /oauth/introspect with HTTP Basic of a client
#    allowed to introspect. Hydra: its admin endpoint POST /admin/oauth2/introspect, which
#    has no caller authentication at all.
#
# Hydra runs with its defaults except: `serve all --dev` (plain HTTP), log level error (no
# request log), telemetry off, a pool of HYDRA_MAX_CONNS PostgreSQL connections (below). Its client secrets are hashed with its default hasher
# (PBKDF2, 25,000 iterations), so every Basic authentication at its token endpoint pays one
# PBKDF2; oauth_server stores a SHA-256 digest of a client secret (secrets are 256-bit
# random) and remembers an introspecting caller's authentication for 10 s.
#
# Hydra signs JWT access tokens with the RS256 key (4096 bits) it makes on first use. wrk
# runs with --timeout 10s: Hydra's answers take about a second under this load, past wrk's
# default 2 s for some; a timeout still fails the run.
#
# Hydra is built once into bench/.cache/hydra from the v2.3.0 module source with the Go
# toolchain its go.mod names (rebuilt when this script is newer). Usage: bench/hydra.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
THREADS=2
NTOK=${NTOK:-2000}
HYDRA_JWT=${HYDRA_JWT:-1}
HYDRA_VERSION=v2.3.0
# Hydra's default pool is 2 connections per CPU (4 here); with JWT access tokens and 16
# requests in flight its token endpoint hung (all 16 transfers stuck for 5 minutes, nothing
# in its log), presumably a request holding a connection while waiting for another to read
# its signing key (not verified). With 40 it runs. Both Hydra rows get this pool size.
HYDRA_MAX_CONNS=${HYDRA_MAX_CONNS:-40}
SCHEMA=oauth_bench_hydra
DBS=(hydra_bench)
[ "$HYDRA_JWT" = 1 ] && DBS+=(hydra_bench_jwt)
PSQL=(psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)

extra_cleanup() {
	"${PSQL[@]}" -d test -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
	for db in "${DBS[@]}"; do "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
}
source bench/common.sh
HYDRA=$WORK/hydra

# Hydra's go.mod replaces its API client module with ./internal/httpclient, a nested module
# the module zip leaves out; the published hydra-client-go v2.2.1 it requires stands in.
# `go install ...@v2.3.0` refuses a module with replace directives, and building it as a
# dependency would lose its replace of gobuffalo/pop by Ory's fork, so build its own tree.
if [ ! -x "$HYDRA" ] || [ bench/hydra.sh -nt "$HYDRA" ]; then
	echo "building Ory Hydra $HYDRA_VERSION (cached in $HYDRA; a cold build takes minutes)..."
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"; cleanup' EXIT
	dir=$(cd "$tmp" && go mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" | jq -r .Dir)
	cp -r "$dir" "$tmp/src" && chmod -R u+w "$tmp/src"
	# With the Go toolchain Hydra's go.mod names (go1.22.5, fetched by the go command). The
	# toolchain moves its RSA-4096 costs both ways: built with go1.26.8, JWT issuance took
	# about 20 ms of CPU per token instead of 57, JWT introspection 6.4 ms instead of 3.0
	# (bench/RESULTS-hydra.md); its opaque-token rows barely move.
	tc=$(cd "$tmp/src" && go mod edit -json | jq -r '.Toolchain // "local"')
	(cd "$tmp/src" && go mod edit -dropreplace github.com/ory/hydra-client-go/v2 && GOTOOLCHAIN=$tc go build -mod=mod -o "$tmp/hydra" .)
	mv "$tmp/hydra" "$HYDRA"
	rm -rf "$tmp"
	trap cleanup EXIT
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; fi
extra_cleanup
for db in "${DBS[@]}"; do "${PSQL[@]}" -d postgres -c "CREATE DATABASE $db" >/dev/null; done
"${PSQL[@]}" -d test -c "CREATE SCHEMA $SCHEMA" >/dev/null
rm -f "$WORK/hydra-bench.db"*

# --- Hydra: one instance per token strategy, each on its own database -------------------
HYDRA_SECRET=hydra-bench-secret-0123456789abcdef
# hydra_env <db> <public-port> <admin-port> <access-token-strategy>: sets HENV.
hydra_env() {
	HENV=(DSN="postgres://postgres@127.0.0.1:5432/$1?sslmode=disable&max_conns=$HYDRA_MAX_CONNS"
		URLS_SELF_ISSUER="http://127.0.0.1:$2" SECRETS_SYSTEM=bench-system-secret-0123456789abcdef
		SERVE_PUBLIC_HOST=127.0.0.1 SERVE_PUBLIC_PORT="$2" SERVE_ADMIN_HOST=127.0.0.1 SERVE_ADMIN_PORT="$3"
		STRATEGIES_ACCESS_TOKEN="$4" LOG_LEVEL=error)
}
declare -A HPUB HADM HPID HCLIENT
# start_hydra <name> <db> <public-port> <admin-port> <strategy>
start_hydra() {
	hydra_env "$2" "$3" "$4" "$5"
	env "${HENV[@]}" "$HYDRA" migrate sql up -e --yes >"$WORK/$1-migrate.log" 2>&1 ||
		{ echo "hydra migrate sql failed:" >&2; tail -20 "$WORK/$1-migrate.log" >&2; exit 1; }
	env "${HENV[@]}" "$HYDRA" serve all --dev --sqa-opt-out >"$WORK/$1.log" 2>&1 &
	pids+=($!)
	HPID[$1]=$!
	HPUB[$1]=$3
	HADM[$1]=$4
}
HYDRAS=(hydra)
start_hydra hydra hydra_bench 9400 9401 opaque
if [ "$HYDRA_JWT" = 1 ]; then start_hydra hydra-jwt hydra_bench_jwt 9402 9403 jwt; HYDRAS+=(hydra-jwt); fi
for h in "${HYDRAS[@]}"; do
	wait_port "${HPUB[$h]}"
	wait_port "${HADM[$h]}"
	out=$(curl -sS -f -X POST "http://127.0.0.1:${HADM[$h]}/admin/clients" -H 'Content-Type: application/json' \
		-d "{\"client_name\":\"bench\",\"client_secret\":\"$HYDRA_SECRET\",\"grant_types\":[\"client_credentials\"],\"token_endpoint_auth_method\":\"client_secret_basic\",\"scope\":\"orders:read\"}") ||
		{ echo "creating the Hydra client on $h failed" >&2; tail -20 "$WORK/$h.log" >&2; exit 1; }
	HCLIENT[$h]=$(echo "$out" | jq -r .client_id)
done

# --- oauth_server: SQLite and PostgreSQL sites in one Caddy ------------------------------
RS_SECRET=rs-secret-0123456789abcdef0123456789
{
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n'
	rs_client=$(printf 'client rs {\n\t\t\tsecret %s\n\t\t\tgrants client_credentials\n\t\t\tintrospect\n\t\t}' "$RS_SECRET")
	server_site 9410 "storage sqlite $PWD/$WORK/hydra-bench.db" "$rs_client"
	server_site 9411 "storage postgres \"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$SCHEMA\"" "$rs_client"
} >"$WORK/hydra-ours.caddyfile"
start ours "$WORK/hydra-ours.caddyfile"
wait_port 9410
wait_port 9411
OURS=$(cat "$WORK/ours.pid")

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# Servers measured: name -> token URL, Basic header, introspection URL and its caller
# header (none for Hydra), pid.
NAMES=("${HYDRAS[@]}" ours-sqlite ours-postgres)
declare -A TOKEN_URL AUTHZ INTRO_URL INTRO_AUTH PID
for h in "${HYDRAS[@]}"; do
	TOKEN_URL[$h]=http://127.0.0.1:${HPUB[$h]}/oauth2/token
	AUTHZ[$h]=$(basic "${HCLIENT[$h]}" "$HYDRA_SECRET")
	INTRO_URL[$h]=http://127.0.0.1:${HADM[$h]}/admin/oauth2/introspect
	INTRO_AUTH[$h]=
	PID[$h]=${HPID[$h]}
done
for s in sqlite postgres; do
	port=9410; [ $s = postgres ] && port=9411
	TOKEN_URL[ours-$s]=http://127.0.0.1:$port/oauth/token
	AUTHZ[ours-$s]=$(basic bench "$SECRET")
	INTRO_URL[ours-$s]=http://127.0.0.1:$port/oauth/introspect
	INTRO_AUTH[ours-$s]=$(basic rs "$RS_SECRET")
	PID[ours-$s]=$OURS
done

cat >"$WORK/hydra-issue.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=orders:read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTH")
LUA
# Introspects the tokens of TOKEN_FILE in turn, each thread its own share; the caller's
# Authorization header from AUTH (none when empty).
cat >"$WORK/hydra-introspect.lua" <<'LUA'
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
	tokens = {}
	local n = tonumber(os.getenv("THREADS"))
	local i = 0
	for line in io.lines(os.getenv("TOKEN_FILE")) do
		if i % n == id then tokens[#tokens + 1] = "token=" .. line .. "&token_type_hint=access_token" end
		i = i + 1
	end
	idx = 0
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("AUTH")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
function request()
	idx = idx + 1
	if idx > #tokens then idx = 1 end
	return wrk.format(nil, nil, nil, tokens[idx])
end
LUA

# Issue NTOK tokens on each server (16 requests in flight, one curl) and check that an
# introspection of the first says active.
for n in "${NAMES[@]}"; do
	f=$WORK/hydra-tokens-$n.txt
	cfg=$WORK/hydra-mint-$n.cfg
	awk -v n="$NTOK" -v url="${TOKEN_URL[$n]}" -v h="Authorization: ${AUTHZ[$n]}" 'BEGIN {
		for (i = 0; i < n; i++) { if (i) print "next"; printf "url = \"%s\"\nheader = \"%s\"\ndata = \"grant_type=client_credentials&scope=orders:read\"\nsilent\nshow-error\nwrite-out = \"\\n\"\n", url, h } }' >"$cfg"
	# One token first, alone: Hydra makes its JWT signing key on first use, and 16 first
	# requests at once race to make it and all fail ("Could not ensure that signing keys
	# for hydra.jwt.access-token exists") or hang.
	curl -sS -f --max-time 60 -X POST "${TOKEN_URL[$n]}" -H "Authorization: ${AUTHZ[$n]}" -d "grant_type=client_credentials&scope=orders:read" >/dev/null ||
		{ echo "first token request on $n failed" >&2; tail -5 "$WORK/$n.log" >&2; exit 1; }
	t0=$(date +%s.%N)
	timeout 300 curl -s --max-time 30 --parallel --parallel-max 16 -K "$cfg" >"$f.out" 2>"$f.err" || true
	t1=$(date +%s.%N)
	grep -o '"access_token":"[^"]*"' "$f.out" | cut -d'"' -f4 >"$f"
	got=$(wc -l <"$f")
	[ "$got" -eq "$NTOK" ] || { echo "minting on $n made $got of $NTOK tokens:" >&2; head -c 600 "$f.out" >&2; head -3 "$f.err" >&2; exit 1; }
	ans=$(curl -sS -f -X POST "${INTRO_URL[$n]}" ${INTRO_AUTH[$n]:+-H "Authorization: ${INTRO_AUTH[$n]}"} --data-urlencode "token=$(head -1 "$f")")
	echo "$ans" | grep -q '"active":true' || { echo "introspection on $n did not say active: $ans" >&2; exit 1; }
	printf "%-14s %d tokens issued with curl (16 in flight) in %.1f s; first one introspects active, token %d chars\n" \
		"$n" "$NTOK" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b-a}')" "$(head -1 "$f" | tr -d '\n' | wc -c)"
done

# pg_cpu: "pid ticks" for each postgres process on the machine.
pg_cpu() { awk '$2 == "(postgres)" {print $1, $14 + $15}' /proc/[0-9]*/stat 2>/dev/null || true; }
# pg_delta <before> <after>: CPU ticks used in between (a process started meanwhile counts
# from zero; one that ended meanwhile loses its last ticks).
pg_delta() { awk 'NR == FNR {t[$1] = $2; next} {d += $2 - t[$1]} END {print d + 0}' <(echo "$1") <(echo "$2"); }
# measure <name> <issue|introspect> -> "rps latency server_us/req pg_us/req"; exits on any
# non-2xx answer or socket error.
measure() {
	local n=$1 c0 c1 p0 p1 out reqs rps lat
	c0=$(proc_cpu "${PID[$n]}"); p0=$(pg_cpu)
	if [ "$2" = issue ]; then
		out=$(AUTH=${AUTHZ[$n]} wrk -t$THREADS -c16 -d"${DUR}s" --timeout 10s -s "$WORK/hydra-issue.lua" "${TOKEN_URL[$n]}")
	else
		out=$(TOKEN_FILE=$WORK/hydra-tokens-$n.txt AUTH=${INTRO_AUTH[$n]} THREADS=$THREADS wrk -t$THREADS -c32 -d"${DUR}s" --timeout 10s -s "$WORK/hydra-introspect.lua" "${INTRO_URL[$n]}")
	fi
	c1=$(proc_cpu "${PID[$n]}"); p1=$(pg_delta "$p0" "$(pg_cpu)")
	if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "errors in the $2 run on $n:" >&2; echo "$out" >&2; exit 1; fi
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	lat=$(echo "$out" | awk '/Latency/ {print $2}')
	awk -v r="$rps" -v l="$lat" -v c0="$c0" -v c1="$c1" -v p="$p1" -v n="$reqs" -v t="$TCK" \
		'BEGIN {printf "%.0f %s %.0f %.0f\n", r, l, (c1-c0)/t*1e6/n, p/t*1e6/n}'
}

# Warm up: connection pools, Postgres backends, caches.
for n in "${NAMES[@]}"; do
	AUTH=${AUTHZ[$n]} wrk -t1 -c4 -d1s --timeout 10s -s "$WORK/hydra-issue.lua" "${TOKEN_URL[$n]}" >/dev/null
	TOKEN_FILE=$WORK/hydra-tokens-$n.txt AUTH=${INTRO_AUTH[$n]} THREADS=1 wrk -t1 -c8 -d1s -s "$WORK/hydra-introspect.lua" "${INTRO_URL[$n]}" >/dev/null
done

echo
echo "load before the runs: $(uptime)"
declare -A V
for kind in issue introspect; do
	echo
	if [ $kind = issue ]; then
		echo "client_credentials issuance, HTTP Basic client auth, wrk -t$THREADS -c16, ${DUR} s per run, $ROUNDS rounds interleaved"
		printf "%-6s %-14s %10s %9s %13s %13s\n" round server tokens/s latency server_us/tok pg_us/tok
	else
		echo "introspection (RFC 7662) rotating over $NTOK tokens, wrk -t$THREADS -c32, ${DUR} s per run, $ROUNDS rounds interleaved"
		echo "(ours: POST /oauth/introspect with HTTP Basic of an introspecting client; Hydra: admin API"
		echo " POST /admin/oauth2/introspect, which has no caller authentication)"
		printf "%-6s %-14s %10s %9s %13s %13s\n" round server req/s latency server_us/req pg_us/req
	fi
	for r in $(seq 1 "$ROUNDS"); do
		for n in "${NAMES[@]}"; do
			read -r rps lat cpu pg < <(measure "$n" $kind)
			printf "%-6s %-14s %10s %9s %13s %13s\n" "$r" "$n" "$rps" "$lat" "$cpu" "$pg"
			V[$kind,$r,$n,rps]=$rps; V[$kind,$r,$n,cpu]=$cpu; V[$kind,$r,$n,pg]=$pg
		done
	done
done
echo
echo "load after the runs:  $(uptime)"
echo "RSS: Hydra $(awk '/VmRSS/ {print $2, $3}' "/proc/${HPID[hydra]}/status"), Caddy with both oauth_server sites $(awk '/VmRSS/ {print $2, $3}' "/proc/$OURS/status")"

# Ratios ours/Hydra: per round (same round, so the same machine load), then their mean.
# tokens/s and req/s: above 1 is ours faster; CPU per token: below 1 is ours cheaper.
mean_ratio() { # kind ours hydra metric
	local s=0 r
	for r in $(seq 1 "$ROUNDS"); do
		s=$(awk -v s="$s" -v a="${V[$1,$r,$2,$4]}" -v b="${V[$1,$r,$3,$4]}" 'BEGIN {print (b > 0) ? s + a/b : s}')
	done
	awk -v s="$s" -v n="$ROUNDS" 'BEGIN {printf "%.2f", s/n}'
}
mean_of() { # kind name metric
	local s=0 r
	for r in $(seq 1 "$ROUNDS"); do s=$(awk -v s="$s" -v a="${V[$1,$r,$2,$3]}" 'BEGIN {print s + a}'); done
	awk -v s="$s" -v n="$ROUNDS" 'BEGIN {printf "%.0f", s/n}'
}
echo
echo "means over $ROUNDS rounds; ratios are ours/Hydra per round, averaged"
printf "%-14s %10s %13s %13s %12s %12s %12s\n" server tokens/s server_us/tok pg_us/tok intro_req/s intro_us/req intro_pg_us
for n in "${NAMES[@]}"; do
	printf "%-14s %10s %13s %13s %12s %12s %12s\n" "$n" "$(mean_of issue "$n" rps)" "$(mean_of issue "$n" cpu)" "$(mean_of issue "$n" pg)" \
		"$(mean_of introspect "$n" rps)" "$(mean_of introspect "$n" cpu)" "$(mean_of introspect "$n" pg)"
done
for h in "${HYDRAS[@]}"; do
	for s in sqlite postgres; do
		printf "ours-%-8s / %-9s issuance %6sx tokens/s, server CPU/token %5sx, PostgreSQL CPU/token %6s; introspection %6sx req/s\n" \
			"$s" "$h" "$(mean_ratio issue "ours-$s" "$h" rps)" "$(mean_ratio issue "ours-$s" "$h" cpu)" \
			"$( [ $s = sqlite ] && echo "-" || echo "$(mean_ratio issue "ours-$s" "$h" pg)x")" "$(mean_ratio introspect "ours-$s" "$h" rps)"
	done
done
