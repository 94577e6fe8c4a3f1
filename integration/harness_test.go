// Package integration starts real Caddy, in this process, from Caddyfiles, and drives it
// with golang.org/x/oauth2 and plain HTTP: the whole path from token to upstream, on
// both stores.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddyoauth/caddy-oauth"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// storeCase is one store the suite runs on.
type storeCase struct {
	driver string
	dsn    string
}

// directive is the Caddyfile storage line.
func (s storeCase) directive() string { return fmt.Sprintf("storage %s %q", s.driver, s.dsn) }

// fingerprint dumps every store row, to prove refused requests changed nothing.
func (s storeCase) fingerprint(t *testing.T) string { return testdb.Fingerprint(t, s.driver, s.dsn) }

// eachStore runs body on a fresh SQLite file and a fresh Postgres schema.
func eachStore(t *testing.T, body func(t *testing.T, sc storeCase)) {
	t.Run("sqlite", func(t *testing.T) { body(t, storeCase{"sqlite", testdb.SQLitePath(t)}) })
	t.Run("postgres", func(t *testing.T) { body(t, storeCase{"postgres", testdb.PostgresDSN(t)}) })
}

// caddyGlobals is the global options block of the tests' Caddyfiles: no admin endpoint,
// no automatic HTTPS, nothing persisted.
const caddyGlobals = `{
	admin off
	auto_https off
	persist_config off
}
`

// addUser adds the test user (userEmail, userPass) to the store at spec
// ("driver:dsn") with `caddy oauth user add`, and returns its id.
func addUser(t *testing.T, spec string) string {
	t.Helper()
	return strings.TrimSpace(runCLI(t, userPass+"\n", "user", "add", "--storage", spec, "--email", userEmail, "--password-stdin"))
}

// caddyMu serialises tests: Caddy runs one config per process.
var caddyMu sync.Mutex

// startCaddy adapts a Caddyfile and runs it until the test ends.
func startCaddy(t *testing.T, caddyfile string) {
	t.Helper()
	caddyMu.Lock()
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		caddyMu.Unlock()
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		t.Logf("caddyfile warning: %s", w.String())
	}
	if err := caddy.Load(cfg, true); err != nil {
		caddyMu.Unlock()
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
		caddyMu.Unlock()
	})
}

// freePort returns a loopback port nobody listens on right now, and never the same port
// twice in one test binary. It picks from below the kernel's ephemeral range (32768 and
// up on Linux): a port the kernel hands out can be taken again, between this check and
// Caddy's bind, as the local port of any outgoing connection on the machine (a database
// client, another test's HTTP client), which made "address already in use" flakes; and
// two sites of one Caddyfile on the same port make an "ambiguous site definition".
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if _, taken := portsHandedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use by someone else
		}
		l.Close()
		return port
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return 0
}

// portsHandedOut are the ports freePort gave out.
var portsHandedOut sync.Map

// upstream is an API behind the guard that records the headers it received.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
	hits int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.hits++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

// seen returns the headers of the last request the upstream received and how many came.
func (u *upstream) seen() (http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.hits
}

// reply is a decoded HTTP answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, method, url, token string, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		_ = json.Unmarshal(raw, &body)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}
