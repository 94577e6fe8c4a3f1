package caddymodule

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/internal/certtest"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

const dpopURL = "http://api.test/orders"

// dpopServe runs one request through the guard as Caddy's server would call it (its
// replacer and original request in the context) and returns the answer and what the
// upstream saw (nil when not reached).
func dpopServe(t testing.TB, g *Guard, req *http.Request) (*httptest.ResponseRecorder, http.Header, *caddy.Replacer) {
	t.Helper()
	repl := caddy.NewReplacer()
	ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl)
	if _, ok := ctx.Value(caddyhttp.OriginalRequestCtxKey).(http.Request); !ok {
		u := *req.URL
		ctx = context.WithValue(ctx, caddyhttp.OriginalRequestCtxKey, http.Request{Method: req.Method, URL: &u, RequestURI: req.RequestURI})
	}
	req = req.WithContext(ctx)
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	rec := httptest.NewRecorder()
	if err := g.ServeHTTP(rec, req, next); err != nil {
		t.Fatal(err)
	}
	return rec, seen, repl
}

func dpopReq(url, scheme, token string, proofs ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, url, nil)
	r.Header.Set("Authorization", scheme+" "+token)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

// wantDPoPRefusal checks a 401 with a DPoP challenge naming code, and the JSON body.
func wantDPoPRefusal(t *testing.T, what string, rec *httptest.ResponseRecorder, seen http.Header, code string) {
	t.Helper()
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	ch := rec.Header().Get("WWW-Authenticate")
	if rec.Code != 401 || seen != nil || !strings.HasPrefix(ch, `DPoP realm="api", error="`+code+`"`) ||
		!strings.Contains(ch, `algs="ES256 `) || body["error"] != code {
		t.Fatalf("%s: %d %q %v, upstream reached %v", what, rec.Code, ch, body, seen != nil)
	}
}

// Through the handler: a DPoP-bound token passes with its proof (the upstream gets the
// identity, {oauth.token_type} is DPoP); the attacks are refused with DPoP challenges;
// a request without a token is told of both schemes.
func TestGuardDPoPThroughTheHandler(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	c, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	tok := f.sign(claims(map[string]any{"cnf": map[string]any{"jkt": c.JKT}}))
	for round := range 3 {
		rec, seen, repl := dpopServe(t, g, dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), nil)))
		if rec.Code != http.StatusNoContent || seen.Get(HeaderUserID) != "user-7" || rec.Header().Get("DPoP-Nonce") != "" {
			t.Fatalf("request %d: %d %v %v", round+1, rec.Code, seen, rec.Header())
		}
		if tt, _ := repl.GetString("oauth.token_type"); tt != "DPoP" {
			t.Fatalf("{oauth.token_type} = %q", tt)
		}
	}
	used := c.Proof(t, "GET", dpopURL, tok, time.Now(), nil)
	if rec, _, _ := dpopServe(t, g, dpopReq(dpopURL, "DPoP", tok, used)); rec.Code != http.StatusNoContent {
		t.Fatalf("fresh proof: %d", rec.Code)
	}
	post := dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), nil))
	post.Method = http.MethodPost
	for _, tc := range []struct {
		what, code string
		req        *http.Request
	}{
		{"as Bearer", "invalid_token", dpopReq(dpopURL, "Bearer", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), nil))},
		{"another key's proof", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, other.Proof(t, "GET", dpopURL, tok, time.Now(), nil))},
		{"another URL", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", "http://api.test/admin", tok, time.Now(), nil))},
		{"another host", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", "http://evil.test/orders", tok, time.Now(), nil))},
		{"another method", "invalid_dpop_proof", post},
		{"no ath", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), map[string]any{"ath": nil}))},
		{"another token's ath", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok+"x", time.Now(), nil))},
		{"old iat", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), map[string]any{"iat": time.Now().Add(-2 * time.Minute).Unix()}))},
		{"replayed", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, used)},
		{"two DPoP headers", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), nil), c.Proof(t, "GET", dpopURL, tok, time.Now(), nil))},
		{"no DPoP header", "invalid_dpop_proof", dpopReq(dpopURL, "DPoP", tok)},
	} {
		rec, seen, _ := dpopServe(t, g, tc.req)
		wantDPoPRefusal(t, tc.what, rec, seen, tc.code)
	}
	// An unbound token sent with DPoP.
	plain := f.sign(claims(map[string]any{"jti": "tok-plain"}))
	rec, seen, _ := dpopServe(t, g, dpopReq(dpopURL, "DPoP", plain, c.Proof(t, "GET", dpopURL, plain, time.Now(), nil)))
	wantDPoPRefusal(t, "unbound token as DPoP", rec, seen, "invalid_token")
	// No token: both challenges, Bearer's first.
	rec, _, _ = dpopServe(t, g, httptest.NewRequest(http.MethodGet, dpopURL, nil))
	if got := rec.Header().Values("WWW-Authenticate"); rec.Code != 401 || len(got) != 2 || got[0] != `Bearer realm="api"` || !strings.HasPrefix(got[1], `DPoP realm="api", algs="ES256 `) {
		t.Fatalf("no token: %d %q", rec.Code, got)
	}
}

// The htu is the URL the client addressed, before a rewrite in the route (handle_path,
// uri strip_prefix): the original request's path, not r.URL's.
func TestGuardDPoPChecksTheURLTheClientSent(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	c := dpoptest.NewKey(t)
	tok := f.sign(claims(map[string]any{"cnf": map[string]any{"jkt": c.JKT}}))
	rewritten := func(proof string) *http.Request {
		r := dpopReq("http://api.test/orders", "DPoP", tok, proof)
		orig, _ := url.Parse("http://api.test/api/v1/orders?x=1")
		return r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, http.Request{Method: "GET", URL: orig}))
	}
	if rec, _, _ := dpopServe(t, g, rewritten(c.Proof(t, "GET", "http://api.test/api/v1/orders", tok, time.Now(), nil))); rec.Code != http.StatusNoContent {
		t.Fatalf("proof for the URL the client sent: %d %s", rec.Code, rec.Body)
	}
	rec, seen, _ := dpopServe(t, g, rewritten(c.Proof(t, "GET", "http://api.test/orders", tok, time.Now(), nil)))
	wantDPoPRefusal(t, "proof for the rewritten URL", rec, seen, "invalid_dpop_proof")
}

// Two guards of one process (two sites, or the old and new config of a reload) share the
// replay cache, even with different proof windows: a proof accepted by one is refused by
// the other. The state outlives a reload and goes with the last guard.
func TestGuardDPoPReplayCacheIsSharedAndSurvivesReloads(t *testing.T) {
	f := newGuardFixture(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	b := &Guard{JWKS: f.jwks, Issuer: guardIssuer, DPoPProofWindow: caddy.Duration(2 * time.Minute),
		Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:read"}}}}
	for _, g := range []*Guard{a, b} {
		if err := g.Provision(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c := dpoptest.NewKey(t)
	tok := f.sign(claims(map[string]any{"cnf": map[string]any{"jkt": c.JKT}}))
	p := c.Proof(t, "GET", dpopURL, tok, time.Now(), nil)
	if rec, _, _ := dpopServe(t, a, dpopReq(dpopURL, "DPoP", tok, p)); rec.Code != http.StatusNoContent {
		t.Fatalf("first guard: %d", rec.Code)
	}
	if err := a.Cleanup(); err != nil { // the old config goes
		t.Fatal(err)
	}
	rec, seen, _ := dpopServe(t, b, dpopReq(dpopURL, "DPoP", tok, p))
	wantDPoPRefusal(t, "the same proof at the other guard", rec, seen, "invalid_dpop_proof")
	if err := b.Cleanup(); err != nil {
		t.Fatal(err)
	}
	poolsEmpty(t)
}

// dpop_nonce: the first proof gets 401 use_dpop_nonce and a nonce; the retry with it
// passes, and the answer carries a nonce for the next proof. A nonce from one guard is
// good at another of the process.
func TestGuardDPoPNonceOption(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, DPoPNonce: true}
	provisionGuard(t, g)
	g2 := &Guard{JWKS: f.jwks, Issuer: guardIssuer, DPoPNonce: true, Realm: "other"}
	provisionGuard(t, g2)
	c := dpoptest.NewKey(t)
	tok := f.sign(claims(map[string]any{"cnf": map[string]any{"jkt": c.JKT}}))
	rec, seen, _ := dpopServe(t, g, dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), nil)))
	wantDPoPRefusal(t, "no nonce", rec, seen, "use_dpop_nonce")
	nonce := rec.Header().Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	rec, _, _ = dpopServe(t, g, dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), map[string]any{"nonce": nonce})))
	if rec.Code != http.StatusNoContent || rec.Header().Get("DPoP-Nonce") == "" {
		t.Fatalf("retry with the nonce: %d %v", rec.Code, rec.Header())
	}
	rec, _, _ = dpopServe(t, g2, dpopReq(dpopURL, "DPoP", tok, c.Proof(t, "GET", dpopURL, tok, time.Now(), map[string]any{"nonce": nonce})))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("the other guard refuses the nonce: %d %s", rec.Code, rec.Body)
	}
	// A plain Bearer token needs no nonce and gets none.
	plain := f.sign(claims(map[string]any{"jti": "tok-plain"}))
	if code, _, _ := serve(t, g, plain, nil); code != http.StatusNoContent {
		t.Fatalf("plain token: %d", code)
	}
}

// A certificate-bound token over real TLS connections that ask for a client
// certificate (Caddy's client_auth mode request): with the right certificate it passes;
// with another or none, 401 invalid_token.
func TestGuardCertificateBoundTokenOverTLS(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	right, x5t := certtest.ClientCert(t, "right")
	wrong, _ := certtest.ClientCert(t, "wrong")
	tok := f.sign(claims(map[string]any{"cnf": map[string]any{"x5t#S256": x5t}}))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, _, _ := dpopServe(t, g, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	call := func(cert *tls.Certificate) (int, string) {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	for range 3 {
		if code, _ := call(&right); code != http.StatusNoContent {
			t.Fatalf("right certificate: %d", code)
		}
		for name, cert := range map[string]*tls.Certificate{"another certificate": &wrong, "none": nil} {
			if code, ch := call(cert); code != 401 || !strings.HasPrefix(ch, `Bearer realm="api", error="invalid_token"`) {
				t.Fatalf("%s: %d %q", name, code, ch)
			}
		}
	}
}
