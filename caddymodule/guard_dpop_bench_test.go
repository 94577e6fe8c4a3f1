package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkGuardServeHTTPDPoP is BenchmarkGuardServeHTTPCacheHit's headers=1 case for a
// cached DPoP-bound token with a new ES256 proof on every request, as a DPoP client
// sends them: the difference is what a proof costs the guard (its signature check
// first). Requests and proofs are made before the timer; run with a fixed count:
//
//	go test -run '^$' -bench 'GuardServeHTTP(DPoP|CacheHit)' -benchtime 20000x -benchmem ./caddymodule/
func BenchmarkGuardServeHTTPDPoP(b *testing.B) {
	f := newGuardFixture(b)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Scopes: []ScopeRuleConfig{{Mode: "all", Scopes: []string{"orders:read"}}}}
	provisionGuard(b, g)
	c := newProofClient(b)
	tok := f.sign(claims(map[string]any{"scope": "orders:read orders:write profile", "cnf": map[string]any{"jkt": c.jkt}}))
	for range 2 {
		if rec, _, _ := dpopServe(b, g, dpopReq(dpopURL, "DPoP", tok, c.proof(b, "GET", dpopURL, tok, nil))); rec.Code != http.StatusNoContent {
			b.Fatalf("warm-up request: %d", rec.Code)
		}
	}
	if _, ok := g.cache.Get(tok); !ok {
		b.Fatal("token not cached after warm-up")
	}
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodGet, dpopURL, nil)
		r.Header = http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {c.proof(b, "GET", dpopURL, tok, nil)}}
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
	if w.Code != http.StatusOK || len(reqs[0].Header[HeaderClientID]) != 1 {
		b.Fatalf("the guard refused the benchmark request: %d %s", w.Code, w.Body)
	}
}
