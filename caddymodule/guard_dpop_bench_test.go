package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

// BenchmarkGuardServeHTTPDPoP is BenchmarkGuardServeHTTPCacheHit's headers=1 case for a
// cached DPoP-bound token with a new ES256 proof on every request, as a DPoP client
// sends them: the difference is what a proof costs the guard (its signature check
// first). Requests and proofs are made before the timer; run with a fixed count:
//
//	go test -run '^$' -bench 'GuardServeHTTP(DPoP|CacheHit)' -benchtime 20000x -benchmem ./caddymodule/
//
// nonce=on is the same guard with dpop_nonce: every proof carries the guard's nonce, and
// every answer gets a fresh one (DPoP-Nonce).
func BenchmarkGuardServeHTTPDPoP(b *testing.B) {
	b.Run("nonce=off", func(b *testing.B) { benchDPoP(b, false) })
	b.Run("nonce=on", func(b *testing.B) { benchDPoP(b, true) })
}

func benchDPoP(b *testing.B, nonce bool) {
	f := newGuardFixture(b)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, DPoPNonce: nonce, Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:read"}}}}
	provisionGuard(b, g)
	c := dpoptest.NewKey(b)
	tok := f.sign(claims(map[string]any{"scope": "orders:read orders:write profile", "cnf": map[string]any{"jkt": c.JKT}}))
	var changes map[string]any
	if nonce {
		changes = map[string]any{"nonce": g.decide.DPoPNonce()}
	}
	for range 2 {
		if rec, _, _ := dpopServe(b, g, dpopReq(dpopURL, "DPoP", tok, c.Proof(b, "GET", dpopURL, tok, time.Now(), changes))); rec.Code != http.StatusNoContent {
			b.Fatalf("warm-up request: %d", rec.Code)
		}
	}
	if _, ok := g.cache.Get(tok); !ok {
		b.Fatal("token not cached after warm-up")
	}
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodGet, dpopURL, nil)
		r.Header = http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {c.Proof(b, "GET", dpopURL, tok, time.Now(), changes)}}
		r = r.WithContext(context.Background())
		caddyhttp.NewTestReplacer(r)
		reqs[i] = r
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for _, r := range reqs {
		if err := g.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if w.Code != http.StatusOK || len(reqs[0].Header[HeaderClientID]) != 1 || nonce != (w.Header().Get("DPoP-Nonce") != "") {
		b.Fatalf("the guard refused the benchmark request: %d %s %v", w.Code, w.Body, w.Header())
	}
}
