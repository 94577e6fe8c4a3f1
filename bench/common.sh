# Shared by the load scripts (sourced from the repository root): tools, the Caddy binary,
# process bookkeeping and cleanup. A script may define extra_cleanup to run on exit too.

export PATH="/usr/local/go/bin:$PATH"
WORK=bench/.cache
mkdir -p "$WORK"
BIN=$WORK/caddy
TCK=$(getconf CLK_TCK)

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

# Build Caddy with the plugin once; rebuild only when the Go sources changed. cmd/caddy is
# the binary `xcaddy build --with github.com/caddyoauth/caddy-oauth` makes (standard
# modules plus this plugin), built from this checkout without an xcaddy build directory.
if [ ! -x "$BIN" ] || [ -n "$(find . -path ./bench/.cache -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$BIN" -print | head -1)" ]; then
	echo "building Caddy with the plugin (cached in $BIN)..."
	go build -o "$BIN" ./cmd/caddy
fi

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

# start <name> <caddyfile>: runs Caddy in the background; its pid goes to $WORK/<name>.pid.
start() {
	XDG_DATA_HOME=$WORK/data XDG_CONFIG_HOME=$WORK/config "$BIN" run --config "$2" --adapter caddyfile >"$WORK/$1.log" 2>&1 &
	pids+=($!)
	echo $! >"$WORK/$1.pid"
}

# wait_port <port>: waits up to 10 s for a listener on 127.0.0.1.
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# proc_cpu <pid>: user+system CPU ticks the process used so far.
proc_cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

# wrk scripts: same.lua sends the first token of $TOKEN_FILE on every request; rotate.lua
# splits the tokens of $TOKEN_FILE between $THREADS threads and cycles through them,
# sending each $REPEAT times in a row (default once; a guard caches a token on its second
# sighting, so REPEAT=2 fills its cache).
cat >"$WORK/same.lua" <<'LUA'
local f = io.open(os.getenv("TOKEN_FILE"), "r")
wrk.headers["Authorization"] = "Bearer " .. f:read("*l")
f:close()
LUA
cat >"$WORK/rotate.lua" <<'LUA'
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
	tokens = {}
	local n = tonumber(os.getenv("THREADS"))
	local i = 0
	for line in io.lines(os.getenv("TOKEN_FILE")) do
		if i % n == id then tokens[#tokens + 1] = line end
		i = i + 1
	end
	rep = tonumber(os.getenv("REPEAT") or "1")
	idx = 0
end
function request()
	idx = idx + 1
	local t = tokens[math.floor((idx - 1) / rep) % #tokens + 1]
	return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. t})
end
LUA

# write_upstream: the upstream every gateway scenario proxies to, on 9200.
write_upstream() {
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
}

# SECRET is client bench's secret in every server a script starts.
SECRET=bench-secret-0123456789abcdef

# server_site <port> <storage and other option lines> [extra client blocks]: an
# oauth_server site for the load scripts, issuer its own origin, scope orders:read, the
# token endpoint's rate limits off (the load comes from one client and one address),
# client bench (client_credentials, $SECRET).
server_site() {
	cat <<CF
http://127.0.0.1:$1 {
	oauth_server {
		issuer http://127.0.0.1:$1
		$2
		scope orders:read Read orders
		default_scope orders:read
		token_rate_limit {
			per_client off
			per_ip off
		}
		client bench {
			secret $SECRET
			grants client_credentials
		}
		${3:-}
	}
}
CF
}

# issue_lua <secret>: $WORK/issue.lua posts a client_credentials request for client
# bench with that secret.
issue_lua() {
	cat >"$WORK/issue.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=orders:read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$1" | base64 -w0)"
LUA
}
