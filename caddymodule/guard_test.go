package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

const guardIssuer = "https://auth.test"

// guardFixture is a JWKS file and a way to sign tokens with its key.
type guardFixture struct {
	jwks string
	sign func(claims map[string]any) string
}

func newGuardFixture(t testing.TB) guardFixture {
	t.Helper()
	ring, _ := testRing(t)
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, ring.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	return guardFixture{jwks: p, sign: func(c map[string]any) string { return signToken(t, ring, c) }}
}

func claims(extra map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": guardIssuer, "sub": "user-7", "aud": []string{"app"}, "client_id": "app",
		"jti": "tok-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "orders:read",
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// The upstream gets the identity headers (and never the caller's), and the request's
// placeholders name the user, as basic_auth does for access logs.
func TestGuardSetsHeadersAndPlaceholders(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Headers: map[string]string{"X-User-Email": "{oauth.claim.email}", "X-Who": "{http.auth.user.id}/{oauth.client_id}"}}
	provisionGuard(t, g)
	exp := time.Now().Add(time.Hour).Unix()
	tok := f.sign(claims(map[string]any{"email": "ada@example.com", "exp": exp, "scope": "orders:read orders:write"}))
	spoof := map[string]string{"X-OAuth-User-Id": "admin", "X-OAuth-Scopes": "*", "X-User-Email": "root@example.com", "X-OAuth-Token-Id": "x", "X-OAuth-Client-Id": "x"}
	// Three times: verified, then cached, then served from the cache, whose identities
	// keep no claims ({oauth.claim.*} is read from the token again).
	for round := range 3 {
		checkHeadersAndPlaceholders(t, g, tok, spoof, exp, round)
	}
	if g.cache.Hits() == 0 {
		t.Fatal("the third request was not a cache hit")
	}

	// A client token: no user header at all, and the access log names the client.
	ctok := f.sign(claims(map[string]any{"sub": "app", "jti": "tok-9"}))
	for round := range 3 {
		code, seen, repl := serve(t, g, ctok, spoof)
		if code != http.StatusNoContent {
			t.Fatalf("client token: %d", code)
		}
		if _, has := seen["X-Oauth-User-Id"]; has {
			t.Errorf("client token: user id header present: %q", seen.Get("X-Oauth-User-Id"))
		}
		if got, _ := repl.GetString("http.auth.user.id"); got != "app" {
			t.Errorf("client token, request %d: {http.auth.user.id} = %q", round+1, got)
		}
		if seen.Get("X-User-Email") != "" {
			t.Errorf("client token: spoofed X-User-Email reached the upstream: %q", seen.Get("X-User-Email"))
		}
	}
}

func checkHeadersAndPlaceholders(t *testing.T, g *Guard, tok string, spoof map[string]string, exp int64, round int) {
	t.Helper()
	code, seen, repl := serve(t, g, tok, spoof)
	if code != http.StatusNoContent {
		t.Fatalf("request %d: status %d", round+1, code)
	}
	want := map[string]string{
		"X-Oauth-User-Id": "user-7", "X-Oauth-Client-Id": "app", "X-Oauth-Scopes": "orders:read orders:write",
		"X-Oauth-Token-Id": "tok-1", "X-User-Email": "ada@example.com", "X-Who": "user-7/app",
	}
	for k, v := range want {
		if got := seen.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("request %d: upstream header %s = %q, want %q", round+1, k, got, v)
		}
	}
	for key, v := range map[string]string{
		"http.auth.user.id": "user-7", "oauth.user_id": "user-7", "oauth.client_id": "app",
		"oauth.scopes": "orders:read orders:write", "oauth.token_id": "tok-1",
		"oauth.expires_at": strconv.FormatInt(exp, 10), "oauth.claim.email": "ada@example.com",
	} {
		if got, _ := repl.GetString(key); got != v {
			t.Errorf("request %d: {%s} = %q, want %q", round+1, key, got, v)
		}
	}
}

// The module writes the validator's refusals (the contract's table is tested in
// validator): here, keys that cannot be fetched give 503 with Retry-After, no challenge,
// never a pass.
func TestGuardAnswers503WhileItsJWKSIsUnreachable(t *testing.T) {
	f := newGuardFixture(t)
	good := f.sign(claims(nil))
	down := &Guard{JWKS: "http://127.0.0.1:1/jwks.json", Issuer: guardIssuer, Realm: "orders"}
	provisionGuard(t, down)
	code, hdr, body := refusal(t, down, "Bearer "+good)
	if code != 503 || hdr.Get("Retry-After") == "" || hdr.Get("WWW-Authenticate") != "" || body["error"] == nil {
		t.Fatalf("JWKS unreachable: %d %v %v", code, hdr, body)
	}
	code, hdr, _ = refusal(t, down, "")
	if code != 401 || hdr.Get("WWW-Authenticate") != `Bearer realm="orders"` {
		t.Fatalf("no token: %d %v", code, hdr)
	}
}

// refusal sends one request with the given Authorization header and decodes the answer.
func refusal(t *testing.T, g *Guard, auth string) (int, http.Header, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://api.test/orders", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	rec := httptest.NewRecorder()
	reached := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { reached = true; return nil })
	if err := g.ServeHTTP(rec, req, next); err != nil {
		t.Fatal(err)
	}
	if reached && rec.Code >= 400 {
		t.Fatal("a refused request reached the upstream")
	}
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, rec.Header(), body
}

// Guards of one config, or of the old and new config during a reload, share one JWKS
// source and one token cache; the last one to go releases them.
func TestGuardsShareKeysAndCacheAcrossReloads(t *testing.T) {
	f := newGuardFixture(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	old := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	if err := old.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	tok := f.sign(claims(nil))
	// Twice: the cache takes a token on its second sighting.
	for range 2 {
		if code, _, _ := serve(t, old, tok, nil); code != http.StatusNoContent {
			t.Fatalf("old config: %d", code)
		}
	}
	reloaded := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Scopes: []ScopeRuleConfig{{Mode: "any", Scopes: []string{"orders:read"}}}}
	if err := reloaded.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if old.keys != reloaded.keys || old.cache != reloaded.cache {
		t.Fatal("the reloaded guard built its own key source or cache")
	}
	// The old config goes away; the new one keeps working from the shared state.
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	cache := reloaded.cache
	hits := cache.Hits()
	if code, _, _ := serve(t, reloaded, tok, nil); code != http.StatusNoContent {
		t.Fatalf("after the old config's cleanup: %d", code)
	}
	if cache.Hits() == hits {
		t.Error("the token verified by the old config was not found in the shared cache")
	}
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	poolsEmpty(t)
}

// The identity headers' values belong to one request: a later handler that edits a value
// in place (Caddy's header replace does) or appends to it must not change what the next
// request with the same cached token gets.
func TestIdentityHeaderValuesAreNotSharedBetweenRequests(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	tok := f.sign(claims(nil))
	edit := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		for _, k := range []string{HeaderUserID, HeaderClientID, HeaderScopes, HeaderTokenID} {
			r.Header[k][0] = "edited"
			r.Header[k] = append(r.Header[k], "appended")
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest(http.MethodGet, "http://api.test/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		if err := g.ServeHTTP(httptest.NewRecorder(), req, edit); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue
		}
		// What the guard set is in req.Header before edit ran: check it through a fresh
		// request that stops at a recording handler.
		code, seen, repl := serve(t, g, tok, nil)
		if code != http.StatusNoContent {
			t.Fatalf("status %d", code)
		}
		for k, want := range map[string]string{HeaderUserID: "user-7", HeaderClientID: "app", HeaderScopes: "orders:read", HeaderTokenID: "tok-1"} {
			if got := seen.Values(k); len(got) != 1 || got[0] != want {
				t.Fatalf("request %d: %s = %q, want %q", i, k, got, want)
			}
		}
		if got, _ := repl.GetString("oauth.user_id"); got != "user-7" {
			t.Fatalf("{oauth.user_id} = %q", got)
		}
	}
}

// A user id set earlier in the route (basic_auth, or `vars http.auth.user.id`) gives way
// to the token's: the access log names the user the guard let in.
func TestGuardUserIDOverridesOneSetEarlier(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	tok := f.sign(claims(nil))
	for _, earlier := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodGet, "http://api.test/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		repl := caddy.NewReplacer()
		if earlier {
			repl.Set("http.auth.user.id", "basic-user")
		}
		req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
		next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
		if err := g.ServeHTTP(httptest.NewRecorder(), req, next); err != nil {
			t.Fatal(err)
		}
		if got, _ := repl.GetString("http.auth.user.id"); got != "user-7" {
			t.Fatalf("set earlier=%v: {http.auth.user.id} = %q, want the token's user-7", earlier, got)
		}
	}
}

// An extra header built from a claim ({oauth.claim.email}) with CR or LF in it refuses
// the token (401) before the upstream: no 502 from the proxy, no split header.
func TestGuardRefusesAClaimThatWouldBreakAnExtraHeader(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Headers: map[string]string{"X-User-Email": "{oauth.claim.email}"}}
	provisionGuard(t, g)
	bad := f.sign(claims(map[string]any{"email": "ada@example.com\r\nX-Admin: 1"}))
	code, seen, _ := serve(t, g, bad, nil)
	if code != http.StatusUnauthorized || seen != nil {
		t.Fatalf("claim with CRLF: %d, upstream reached %v", code, seen != nil)
	}
	good := f.sign(claims(map[string]any{"email": "ada@example.com", "jti": "tok-ok"}))
	if code, seen, _ := serve(t, g, good, nil); code != http.StatusNoContent || seen.Get("X-User-Email") != "ada@example.com" {
		t.Fatalf("good claim: %d %v", code, seen)
	}
}
