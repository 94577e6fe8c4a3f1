package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// Two guards with the same JWKS and issuer share one verified-token cache; each still
// applies its own scope rules on every request, cache hit or not.
func TestScopeRulesAreCheckedOnEveryCacheHit(t *testing.T) {
	f := newGuardFixture(t)
	read := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:read"}}}}
	write := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:write"}}}}
	provisionGuard(t, read)
	provisionGuard(t, write)
	if read.cacheKey != write.cacheKey {
		t.Fatalf("the guards do not share a cache: %q vs %q", read.cacheKey, write.cacheKey)
	}
	cache := read.verify.opts.Cache

	tok := f.sign(claims(nil))
	// Twice: the cache takes a token on its second sighting.
	for range 2 {
		if code, _, _ := serve(t, read, tok, nil); code != http.StatusNoContent {
			t.Fatalf("read guard, first requests: %d", code)
		}
	}
	cache.Wait()
	hits := cache.Hits()
	for i := 0; i < 3; i++ {
		if code, seen, _ := serve(t, write, tok, nil); code != http.StatusForbidden || seen != nil {
			t.Fatalf("write guard, cached token without orders:write: %d", code)
		}
		if code, _, _ := serve(t, read, tok, nil); code != http.StatusNoContent {
			t.Fatalf("read guard, cached token: %d", code)
		}
	}
	if got := cache.Hits() - hits; got < 6 {
		t.Fatalf("cache hits %d, want every repeat request served from the cache", got)
	}
}

// A cached token stops passing at its exp: the cache never outlives the token.
func TestCachedTokenIsRefusedOnceExpired(t *testing.T) {
	f := newGuardFixture(t)
	zero := newDuration(0)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Leeway: zero}
	provisionGuard(t, g)
	exp := time.Now().Add(3 * time.Second).Unix()
	tok := f.sign(claims(map[string]any{"exp": exp}))
	for range 2 { // cached on the second sighting
		if code, _, _ := serve(t, g, tok, nil); code != http.StatusNoContent {
			t.Fatalf("fresh token: %d", code)
		}
	}
	g.verify.opts.Cache.Wait()
	if _, ok := g.verify.opts.Cache.Get(tok); !ok {
		t.Fatal("the token was not cached")
	}
	time.Sleep(time.Until(time.Unix(exp, 0)) + 50*time.Millisecond)
	if code, _, _ := serve(t, g, tok, nil); code != http.StatusUnauthorized {
		t.Fatalf("expired cached token: %d", code)
	}
}

func TestSubjectRule(t *testing.T) {
	f := newGuardFixture(t)
	userTok := f.sign(claims(nil))
	// A client credentials token: sub is the client, as this server issues it...
	clientTok := f.sign(claims(map[string]any{"sub": "app", "jti": "tok-2"}))
	// ...or empty, as Laravel Passport issues it.
	passportClientTok := f.sign(claims(map[string]any{"sub": "", "client_id": nil, "aud": "app", "jti": "tok-3"}))
	cases := []struct {
		subject             string
		user, client, pport int
	}{
		{"", 204, 204, 204},
		{"any", 204, 204, 204},
		{"user", 204, 401, 401},
		{"client", 401, 204, 204},
	}
	for _, c := range cases {
		t.Run("subject="+c.subject, func(t *testing.T) {
			g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Subject: c.subject}
			provisionGuard(t, g)
			for name, want := range map[string]int{userTok: c.user, clientTok: c.client, passportClientTok: c.pport} {
				if code, _, _ := serve(t, g, name, nil); code != want {
					t.Errorf("token %.30s...: %d, want %d", name, code, want)
				}
			}
		})
	}
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
	code, seen, repl := serve(t, g, tok, spoof)
	if code != http.StatusNoContent {
		t.Fatalf("status %d", code)
	}
	want := map[string]string{
		"X-Oauth-User-Id": "user-7", "X-Oauth-Client-Id": "app", "X-Oauth-Scopes": "orders:read orders:write",
		"X-Oauth-Token-Id": "tok-1", "X-User-Email": "ada@example.com", "X-Who": "user-7/app",
	}
	for k, v := range want {
		if got := seen.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream header %s = %q, want %q", k, got, v)
		}
	}
	for key, v := range map[string]string{
		"http.auth.user.id": "user-7", "oauth.user_id": "user-7", "oauth.client_id": "app",
		"oauth.scopes": "orders:read orders:write", "oauth.token_id": "tok-1",
		"oauth.expires_at": strconv.FormatInt(exp, 10), "oauth.claim.email": "ada@example.com",
	} {
		if got, _ := repl.GetString(key); got != v {
			t.Errorf("{%s} = %q, want %q", key, got, v)
		}
	}

	// A client token: no user header at all, and the access log names the client.
	ctok := f.sign(claims(map[string]any{"sub": "app", "jti": "tok-9"}))
	code, seen, repl = serve(t, g, ctok, spoof)
	if code != http.StatusNoContent {
		t.Fatalf("client token: %d", code)
	}
	if _, has := seen["X-Oauth-User-Id"]; has {
		t.Errorf("client token: user id header present: %q", seen.Get("X-Oauth-User-Id"))
	}
	if got, _ := repl.GetString("http.auth.user.id"); got != "app" {
		t.Errorf("client token: {http.auth.user.id} = %q", got)
	}
	if seen.Get("X-User-Email") != "" {
		t.Errorf("client token: spoofed X-User-Email reached the upstream: %q", seen.Get("X-User-Email"))
	}
}

// Passport writes its scopes as a `scopes` array; others use `scp`. All three forms
// meet the same rules.
func TestGuardAcceptsEveryScopeClaimForm(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:read", "orders:write"}}}}
	provisionGuard(t, g)
	for i, form := range []map[string]any{
		{"scope": "orders:read orders:write"},
		{"scope": nil, "scopes": []string{"orders:read", "orders:write"}},
		{"scope": nil, "scp": []string{"orders:write", "orders:read"}},
		{"scope": nil, "scp": "orders:read orders:write"},
	} {
		form["jti"] = "form-" + strconv.Itoa(i)
		code, seen, _ := serve(t, g, f.sign(claims(form)), nil)
		if code != http.StatusNoContent {
			t.Errorf("form %v: %d", form, code)
			continue
		}
		if got := seen.Get("X-Oauth-Scopes"); !strings.Contains(got, "orders:read") || !strings.Contains(got, "orders:write") {
			t.Errorf("form %v: X-OAuth-Scopes %q", form, got)
		}
	}
	// One scope short in each form: 403.
	for i, form := range []map[string]any{
		{"scope": "orders:read"},
		{"scope": nil, "scopes": []string{"orders:read"}},
		{"scope": nil, "scp": []string{"orders:read"}},
	} {
		form["jti"] = "short-" + strconv.Itoa(i)
		if code, _, _ := serve(t, g, f.sign(claims(form)), nil); code != http.StatusForbidden {
			t.Errorf("form %v: %d, want 403", form, code)
		}
	}
}

func newDuration(d time.Duration) *caddy.Duration {
	v := caddy.Duration(d)
	return &v
}

// Every row of the contract's RFC 6750 table, through the guard. (Revoked tokens need
// the revocation feed or introspection, which come with their own tests.)
func TestGuardRefusalsFollowTheContractTable(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Audience: []string{"app"}, Realm: "orders",
		Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:read", "orders:write"}}}}
	provisionGuard(t, g)
	good := f.sign(claims(map[string]any{"scope": "orders:read orders:write"}))
	parts := strings.Split(good, ".")
	otherKey := newGuardFixture(t).sign(claims(map[string]any{"scope": "orders:read orders:write"}))

	type row struct {
		name, auth   string
		status       int
		code, bearer string // bearer: the WWW-Authenticate value's expected start
	}
	rows := []row{
		{"no token", "", 401, "", `Bearer realm="orders"`},
		{"malformed header", "Bearer", 400, "invalid_request", `Bearer realm="orders", error="invalid_request"`},
		{"two tokens", "Bearer " + good + ", Bearer " + good, 400, "invalid_request", `Bearer realm="orders", error="invalid_request"`},
		{"bad signature", "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"expired", "Bearer " + f.sign(claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"unknown key", "Bearer " + otherKey, 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"wrong issuer", "Bearer " + f.sign(claims(map[string]any{"iss": "https://evil.test"})), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"wrong audience", "Bearer " + f.sign(claims(map[string]any{"aud": "other"})), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"scopes missing", "Bearer " + f.sign(claims(map[string]any{"scope": "orders:read"})), 403, "insufficient_scope", `Bearer realm="orders", error="insufficient_scope"`},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			code, hdr, body := refusal(t, g, r.auth)
			if code != r.status {
				t.Fatalf("status %d, want %d", code, r.status)
			}
			wa := hdr.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, r.bearer) {
				t.Errorf("WWW-Authenticate %q, want it to start %q", wa, r.bearer)
			}
			if r.code == "" && strings.Contains(wa, "error=") {
				t.Errorf("no-token challenge carries an error: %q", wa)
			}
			if r.code == "insufficient_scope" && !strings.Contains(wa, `scope="orders:read orders:write"`) {
				t.Errorf("insufficient_scope does not name the required scopes: %q", wa)
			}
			if body["error"] == nil || (r.code != "" && body["error"] != r.code) {
				t.Errorf("body %v, want error %q", body, r.code)
			}
			if _, ok := body["error_description"]; !ok {
				t.Errorf("body %v has no error_description", body)
			}
		})
	}

	// Keys that cannot be fetched: 503 with Retry-After, no challenge, never a pass.
	down := &Guard{JWKS: "http://127.0.0.1:1/jwks.json", Issuer: guardIssuer}
	provisionGuard(t, down)
	code, hdr, body := refusal(t, down, "Bearer "+good)
	if code != 503 || hdr.Get("Retry-After") == "" || hdr.Get("WWW-Authenticate") != "" || body["error"] == nil {
		t.Fatalf("JWKS unreachable: %d %v %v", code, hdr, body)
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
	if old.verify.keys != reloaded.verify.keys || old.verify.opts.Cache != reloaded.verify.opts.Cache {
		t.Fatal("the reloaded guard built its own key source or cache")
	}
	// The old config goes away; the new one keeps working from the shared state.
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	cache := reloaded.verify.opts.Cache
	cache.Wait()
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
		g.verify.opts.Cache.Wait()
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
