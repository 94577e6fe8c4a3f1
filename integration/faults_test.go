package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// Fault tests: real processes under a few seconds of load while a dependency fails,
// counting every answer.

// outcome is one request's answer under load.
type outcome struct {
	kind    string        // which group of tokens the request used
	sent    time.Duration // since the fault began (negative: before it)
	status  int           // 0: no answer within the client's timeout
	retry   string        // Retry-After
	errText string        // transport error, if any
	at      time.Time     // when it was sent
}

// loadClient has enough idle connections for the load goroutines and a timeout that
// turns a hang into a counted failure.
func loadClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16},
	}
}

// do sends req and returns its outcome; the body is drained so connections are reused.
func do(c *http.Client, req *http.Request) (int, string, string) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), ""
}

// tokenID returns the jti of one of our JWTs (the test's own tokens, read not verified).
func tokenID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
		t.Fatalf("no jti in token: %v", err)
	}
	return c.ID
}

// countingUpstream records the X-OAuth-Token-Id of every request the guard let through.
type countingUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	passed map[string]int
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	u := &countingUpstream{passed: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.passed[r.Header.Get("X-OAuth-Token-Id")]++
		u.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Close)
	return u
}

// TestIntrospectionServerStoppedUnderLoad kills the introspection server while a guard
// in introspection mode is under load with five groups of tokens, and checks every
// answer: tokens whose active answer was cached keep passing until their cache time
// and then get 503; tokens never seen get 503 with Retry-After at once; revoked,
// wrong-scope and garbage tokens never pass; and the upstream saw exactly the requests
// answered 200, each with a token of the cached group.
func TestIntrospectionServerStoppedUnderLoad(t *testing.T) {
	if _, err := caddyBinary(); err != nil {
		t.Fatal(err)
	}
	// Long enough that, with the 1 s margin below, cached tokens are still judged for a
	// while after the kill.
	const cacheTTL = 3 * time.Second
	authPort, guardPort := freePort(t), freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", authPort)
	server := startCaddyProcess(t, "oauth_server", processGlobals+fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		storage sqlite %q
		scope orders:read Read your orders
		scope orders:write Change your orders
		default_scope orders:read
		client svc {
			secret %s
			grants client_credentials
		}
		client edge {
			secret %s
			grants client_credentials
			introspect
		}
	}
}
`, authPort, issuer, testdb.SQLitePath(t), svcSecret, edgeSecret))
	server.waitListening(t, fmt.Sprintf("127.0.0.1:%d", authPort))
	up := newCountingUpstream(t)
	startCaddy(t, processGlobals+fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_guard {
		introspect %s/oauth/introspect {
			client_id edge
			client_secret %s
			cache_ttl %s
		}
		scopes all orders:read
	}
	reverse_proxy %s
}
`, guardPort, issuer, edgeSecret, cacheTTL, strings.TrimPrefix(up.URL, "http://")))
	api := fmt.Sprintf("http://127.0.0.1:%d/orders", guardPort)

	mint := func(n int, scopes ...string) []string {
		cfg := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, TokenURL: issuer + "/oauth/token", Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
		var out []string
		for range n {
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatalf("client credentials: %v", err)
			}
			out = append(out, tok.AccessToken)
		}
		return out
	}
	groups := map[string][]string{
		"cached":     mint(20, "orders:read"),
		"fresh":      mint(20, "orders:read"),
		"revoked":    mint(10, "orders:read"),
		"wrongscope": mint(10, "orders:write"),
	}
	for i := range 10 {
		groups["garbage"] = append(groups["garbage"], fmt.Sprintf("not.a-token.%d%d", i, rand.Int()))
	}
	cachedIDs := map[string]bool{}
	for _, tok := range groups["cached"] {
		cachedIDs[tokenID(t, tok)] = true
	}
	es := &edgeSite{revokeURL: issuer + "/oauth/revoke"}
	for _, tok := range groups["revoked"] {
		es.revoke(t, tok)
	}

	client := loadClient()
	send := func(token string) (int, string, string) {
		req, _ := http.NewRequest("GET", api, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return do(client, req)
	}
	// Warm the guard: the cached group's active answers, and the refusals.
	warmStart := time.Now()
	for kind, want := range map[string]int{"cached": 200, "revoked": 401, "wrongscope": 403} {
		for _, tok := range groups[kind] {
			if status, _, e := send(tok); status != want {
				t.Fatalf("warm-up, %s token: %d %s, want %d", kind, status, e, want)
			}
		}
	}
	warmEnd := time.Now()

	// Load: 8 goroutines, random groups (fresh tokens only once the server is dead, so
	// that none of them can be cached), from 500ms before the kill until every cached
	// answer has had a second to expire.
	kinds := []string{"cached", "cached", "cached", "fresh", "revoked", "wrongscope", "garbage"}
	var (
		mu       sync.Mutex
		outcomes []outcome
		dead     atomic.Bool
		killAt   = time.Now().Add(500 * time.Millisecond)
		stopAt   = warmEnd.Add(cacheTTL + time.Second)
		wg       sync.WaitGroup
	)
	if stopAt.Before(killAt.Add(2 * time.Second)) {
		stopAt = killAt.Add(2 * time.Second)
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(stopAt) {
				kind := kinds[rng.IntN(len(kinds))]
				sent := time.Now()
				if kind == "fresh" && !dead.Load() {
					continue
				}
				toks := groups[kind]
				status, retry, e := send(toks[rng.IntN(len(toks))])
				mu.Lock()
				outcomes = append(outcomes, outcome{kind: kind, status: status, retry: retry, errText: e, at: sent})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Until(killAt))
	_ = server.cmd.Process.Kill()
	<-server.done
	dead.Store(true)
	deadAt := time.Now()
	wg.Wait()

	// Judge every answer. A cached answer expires between warmStart+ttl and
	// warmEnd+ttl; the margin before the earliest expiry absorbs the time a request
	// spends queued on a loaded machine between being sent and being checked (a second:
	// 300 ms was seen to be too little on a busy 2-core machine). A request is checked
	// no earlier than it was sent, so the margin after the latest expiry can be small.
	expiresEarliest := warmStart.Add(cacheTTL).Sub(killAt) - time.Second
	expiresLatest := warmEnd.Add(cacheTTL).Sub(killAt) + 100*time.Millisecond
	count := map[string]int{}
	passed := 0
	for _, o := range outcomes {
		o.sent = o.at.Sub(killAt)
		count[fmt.Sprintf("%s %d", o.kind, o.status)]++
		if o.status == 200 {
			passed++
		}
		bad := ""
		switch {
		case o.status == 0:
			bad = "no answer: " + o.errText
		case o.status == 503 && o.retry == "":
			bad = "503 without Retry-After"
		case o.status == 503 && o.sent < -100*time.Millisecond:
			bad = "503 before the server was stopped"
		case o.kind == "cached" && o.sent < expiresEarliest && o.status != 200:
			bad = "a cached token refused before its cache time"
		case o.kind == "cached" && o.sent > expiresLatest && o.at.After(deadAt) && o.status != 503:
			bad = "a token passed after its cached answer expired, with the server down"
		case o.kind == "cached" && o.status != 200 && o.status != 503:
			bad = "unexpected status"
		case o.kind == "fresh" && o.status != 503:
			bad = "a token never checked was not answered 503 with the server down"
		case o.kind == "revoked" && o.status != 401 && o.status != 503:
			bad = "a revoked token got neither 401 nor 503"
		case o.kind == "wrongscope" && o.status != 403 && o.status != 503:
			bad = "a token without the scope got neither 403 nor 503"
		case o.kind == "garbage" && o.status != 401 && o.status != 503:
			bad = "a garbage token got neither 401 nor 503"
		}
		if bad != "" {
			t.Errorf("%s token sent %v after the kill: %d: %s", o.kind, o.sent.Round(time.Millisecond), o.status, bad)
		}
	}
	t.Logf("answers (group status: count): %v", count)
	if count["cached 200"] == 0 || count["cached 503"] == 0 || count["fresh 503"] == 0 {
		t.Fatalf("the load did not cover both sides of the cache time: %v", count)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	through := 0
	for id, n := range up.passed {
		if !cachedIDs[id] {
			t.Errorf("the upstream received %d requests with token id %q, not of the cached group", n, id)
		}
		through += n
	}
	// The warm-up's 20 requests passed too.
	if through != passed+len(groups["cached"]) {
		t.Errorf("the upstream received %d requests, the guard answered 200 to %d (+%d warm-up)", through, passed, len(groups["cached"]))
	}
}

// TestPostgresConnectionsKilledUnderLoad cuts the oauth_server's database connections
// again and again for a second and a half, as a Postgres restart would, while
// introspection, token issuance and a JWT-mode guard (following the revocation feed)
// are under load. The server answers only 200 or 503 with Retry-After (never 500, never
// a hang), recovers by itself once its connections may live again, and the JWT guard
// answers 200 to every request throughout. The cluster itself is not restarted: other
// tests share it.
// pgRestartEnv, set to 1, makes TestPostgresConnectionsKilledUnderLoad restart the whole
// local PostgreSQL cluster (pg_ctlcluster) instead of terminating the server's
// connections. Run it alone: go test -run TestPostgresConnectionsKilledUnderLoad.
const pgRestartEnv = "OAUTH_FAULT_PG_RESTART"

func TestPostgresConnectionsKilledUnderLoad(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	if _, err := caddyBinary(); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("DSN is not a URL: %v", err)
	}
	app := fmt.Sprintf("oauth_fault_%d", rand.Int64())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()

	authPort, guardPort := freePort(t), freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", authPort)
	server := startCaddyProcess(t, "oauth_server", processGlobals+fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		storage postgres %q
		scope orders:read Read your orders
		default_scope orders:read
		# Load from one client and one address, beyond the token endpoint's default limits.
		token_rate_limit {
			per_client off
			per_ip off
		}
		client svc {
			secret %s
			grants client_credentials
		}
		client edge {
			secret %s
			grants client_credentials
			introspect
		}
	}
}
`, authPort, issuer, u.String(), svcSecret, edgeSecret))
	server.waitListening(t, fmt.Sprintf("127.0.0.1:%d", authPort))
	up := newCountingUpstream(t)
	startCaddy(t, processGlobals+fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_guard {
		jwks %[2]s/.well-known/jwks.json
		issuer %[2]s
		revocations %[2]s/oauth/revocations {
			client_id edge
			client_secret %[3]s
		}
		scopes all orders:read
	}
	reverse_proxy %[4]s
}
`, guardPort, issuer, edgeSecret, strings.TrimPrefix(up.URL, "http://")))
	api := fmt.Sprintf("http://127.0.0.1:%d/orders", guardPort)

	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	var tokens []string
	for range 20 {
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatalf("client credentials: %v", err)
		}
		tokens = append(tokens, tok.AccessToken)
	}

	client := loadClient()
	requests := map[string]func(rng *rand.Rand) *http.Request{
		"introspect": func(rng *rand.Rand) *http.Request {
			req, _ := http.NewRequest("POST", issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {tokens[rng.IntN(len(tokens))]}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("edge", edgeSecret)
			return req
		},
		"token": func(*rand.Rand) *http.Request {
			req, _ := http.NewRequest("POST", issuer+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", svcSecret)
			return req
		},
		"guard": func(rng *rand.Rand) *http.Request {
			req, _ := http.NewRequest("GET", api, nil)
			req.Header.Set("Authorization", "Bearer "+tokens[rng.IntN(len(tokens))])
			return req
		},
	}
	kinds := []string{"introspect", "introspect", "token", "guard", "guard"}
	for _, kind := range kinds {
		if status, _, e := do(client, requests[kind](rand.New(rand.NewPCG(1, 2)))); status != 200 {
			t.Fatalf("before the fault, %s: %d %s", kind, status, e)
		}
	}

	var (
		mu         sync.Mutex
		outcomes   []outcome
		faultStart = time.Now().Add(700 * time.Millisecond)
		faultEnd   = faultStart.Add(1500 * time.Millisecond)
		// stopAt moves once the fault is over: a cluster restart takes as long as it takes.
		stopAt atomic.Int64
		wg     sync.WaitGroup
	)
	stopAt.Store(faultStart.Add(time.Minute).UnixNano())
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().UnixNano() < stopAt.Load() {
				kind := kinds[rng.IntN(len(kinds))]
				sent := time.Now()
				status, retry, e := do(client, requests[kind](rng))
				mu.Lock()
				outcomes = append(outcomes, outcome{kind: kind, sent: sent.Sub(faultStart), status: status, retry: retry, errText: e, at: sent})
				mu.Unlock()
			}
		}()
	}

	time.Sleep(time.Until(faultStart))
	killed := 0
	if os.Getenv(pgRestartEnv) == "1" {
		// The real outage: the whole cluster restarts under load. Opt-in, because every
		// other test using the cluster at that moment fails.
		versions, err := os.ReadDir("/etc/postgresql")
		if err != nil || len(versions) == 0 {
			t.Fatalf("%s=1 needs a Debian PostgreSQL cluster: %v", pgRestartEnv, err)
		}
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", "restart").CombinedOutput()
		if err != nil {
			t.Fatalf("restarting PostgreSQL: %v\n%s", err, out)
		}
		faultEnd = time.Now()
		t.Logf("PostgreSQL restarted in %v", faultEnd.Sub(faultStart).Round(time.Millisecond))
		killed = 1
	} else {
		// The outage: every 20ms, terminate whatever connections the server has (re)opened.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testdb.DefaultPostgresURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for time.Now().Before(faultEnd) {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
				t.Fatalf("terminating the server's connections: %v", err)
			}
			killed += n
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopAt.Store(faultEnd.Add(3 * time.Second).UnixNano())
	wg.Wait()
	if killed == 0 {
		t.Fatalf("no connection of application %s was found to terminate", app)
	}

	// The server recovers by itself: allow it a second after the outage, then every
	// answer must be 200. A request sent just before the first termination may still be
	// running on a connection it kills, so the outage begins 200ms early for the count.
	const recovery = time.Second
	count := map[string]int{}
	for _, o := range outcomes {
		phase := "before"
		switch {
		case o.sent >= faultEnd.Sub(faultStart)+recovery:
			phase = "after"
		case o.sent >= -200*time.Millisecond:
			phase = "during"
		}
		count[fmt.Sprintf("%s %s %d", o.kind, phase, o.status)]++
		bad := ""
		switch {
		case o.status == 0:
			bad = "no answer: " + o.errText
		case o.kind == "guard" && o.status != 200:
			bad = "the JWT-mode guard noticed the database outage"
		case o.status != 200 && o.status != 503:
			bad = "neither 200 nor 503"
		case o.status == 503 && o.retry == "":
			bad = "503 without Retry-After"
		case o.status != 200 && phase != "during":
			bad = "refused outside the outage"
		}
		if bad != "" {
			t.Errorf("%s sent %v after the outage began: %d: %s", o.kind, o.sent.Round(time.Millisecond), o.status, bad)
		}
	}
	t.Logf("terminated %d connections; answers (kind phase status: count): %v", killed, count)
	if count["introspect during 503"]+count["token during 503"] == 0 {
		t.Errorf("the server never answered 503 while its connections were being killed: %v", count)
	}
	if count["introspect after 200"] == 0 || count["token after 200"] == 0 || count["guard during 200"] == 0 {
		t.Errorf("the load did not cover the recovery: %v", count)
	}
	if strings.Contains(server.output(), `"level":"panic"`) || strings.Contains(server.output(), "panic:") {
		t.Errorf("the server panicked:\n%s", server.output())
	}
}
