package validator

import (
	"testing"

	"github.com/caddyoauth/caddy-oauth/scopes"
)

// BenchmarkGuardCheckCacheHit is the guard's whole decision for a cached token: strip the
// identity headers, extract the bearer token, cache hit, revocation-free rules, one scope
// rule. It must not allocate.
func BenchmarkGuardCheckCacheHit(b *testing.B) {
	f := newGuardFixture(b)
	g := f.guard(b, func(o *GuardOptions) { o.Scopes = []scopes.Rule{rule(scopes.All, "read")} })
	tok := f.sign(b, nil)
	r := bearerRequest("Bearer " + tok)
	for range 2 {
		if _, err := g.Check(r); err != nil {
			b.Fatal(err)
		}
	}
	r.Header.Set("Accept", "*/*")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Check(r); err != nil {
			b.Fatal(err)
		}
	}
}
