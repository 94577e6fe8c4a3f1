package caddymodule_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
)

// A guard of the same Caddy as the oauth_server that issues a token knows the token from
// its issuance: its first request is a cache hit (no signature check), and still passes
// every rule. A guard of the same issuer whose key set does not hold the signing key
// admits nothing, and refuses the token.
func TestGuardAdmitsTokensItsOwnServerIssues(t *testing.T) {
	dir := t.TempDir()
	auth, api, foreign := loopbackPort(t), loopbackPort(t), loopbackPort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
	cf := fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		storage sqlite %s
		scope orders:read Read orders
		scope orders:write Change orders
		client svc {
			secret svc-secret-0123456789abcdef
			grants client_credentials
		}
	}
}
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		scopes all orders:read
	}
	respond "ok"
}
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s
		issuer %s
	}
	respond "ok"
}`, auth, issuer, filepath.Join(dir, "o.db"), api, issuer, issuer, foreign, caddymodule.WriteJWKS(t, dir), issuer)
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(raw, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Error(err)
		}
		caddymodule.PoolsEmpty(t)
	})
	if n := caddymodule.IssuedTokenSubscribers(); n != 2 {
		t.Fatalf("%d guards subscribed to issued tokens, want 2", n)
	}
	get := func(port int, token string) int {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/orders", port), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// The guard loads the server's JWKS over HTTP once Caddy listens; until it has, it
	// cannot admit (it does not know the key yet). Wait for a first pass.
	deadline := time.Now().Add(10 * time.Second)
	for get(api, issue(t, issuer, "orders:read")) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the guard never passed a token")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		scope string
		want  int
	}{{"orders:read", http.StatusOK}, {"orders:write", http.StatusForbidden}} {
		tok := issue(t, issuer, c.scope)
		before := caddymodule.JWTCacheHits()
		if got := get(api, tok); got != c.want {
			t.Fatalf("scope %s: status %d, want %d", c.scope, got, c.want)
		}
		if caddymodule.JWTCacheHits() != before+1 {
			t.Fatalf("scope %s: the first use of a token the server just issued was not a cache hit", c.scope)
		}
	}
	// Same issuer, a key set without the server's key: nothing admitted, nothing passes.
	tok := issue(t, issuer, "orders:read")
	before := caddymodule.JWTCacheHits()
	if got := get(foreign, tok); got != http.StatusUnauthorized {
		t.Fatalf("guard with another key set: status %d, want 401", got)
	}
	if caddymodule.JWTCacheHits() != before {
		t.Fatal("a guard whose key set lacks the signing key admitted the token")
	}
}

// issue gets a client-credentials token with scope from the server at issuer.
func issue(t *testing.T, issuer, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "svc-secret-0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	const key = `"access_token":"`
	i := strings.Index(string(body), key)
	if resp.StatusCode != http.StatusOK || i < 0 {
		t.Fatalf("token request: %d %s", resp.StatusCode, body)
	}
	rest := string(body)[i+len(key):]
	return rest[:strings.IndexByte(rest, '"')]
}

// loopbackPort returns a loopback port free right now.
func loopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
