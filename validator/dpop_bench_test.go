package validator

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

// BenchmarkGuardCheckDPoPCacheHit is the guard's whole decision for a cached DPoP-bound
// token with a new ES256 proof on every request, the realistic case (a client signs a
// proof per request): BenchmarkGuardCheckCacheHit's work plus the proof's signature
// check, its claims, htu, ath, the key match and the replay cache. Proofs are signed
// before the timer, one per iteration; run with a fixed count:
//
//	go test -run '^$' -bench 'GuardCheck(DPoP)?CacheHit' -benchtime 20000x -benchmem ./validator/
func BenchmarkGuardCheckDPoPCacheHit(b *testing.B) {
	f := newGuardFixture(b)
	g := f.dpopGuard(b, nil)
	c := dpoptest.NewKey(b)
	tok := f.sign(b, map[string]any{"cnf": map[string]any{"jkt": c.JKT}})
	for range 2 {
		if _, err := g.Check(dpopRequest(apiURL, tok, c.Proof(b, "GET", apiURL, tok, testNow, nil))); err != nil {
			b.Fatal(err)
		}
	}
	if _, ok := f.cache.Get(tok); !ok {
		b.Fatal("token not cached")
	}
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = dpopRequest(apiURL, tok, c.Proof(b, "GET", apiURL, tok, testNow.Add(time.Duration(i%30)*time.Second), nil))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, r := range reqs {
		if _, err := g.Check(r); err != nil {
			b.Fatal(err)
		}
	}
}
