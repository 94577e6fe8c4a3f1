package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

// BenchmarkTokenDPoP is what a DPoP proof adds to a token request (client_credentials,
// no network), on both stores: "bearer" without a proof, "dpop" with a new ES256 proof
// per request (checked, its jti recorded in the store, the token bound). The proofs are
// signed before the timer starts; run a fixed count so they stay within their minute.
// ns/op is wall time per token with 16 requests in flight, so 1e9/ns is tokens/s:
//
//	go test -run '^$' -bench TokenDPoP -benchtime 3000x ./authserver/
func BenchmarkTokenDPoP(b *testing.B) {
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			// No rate limit: the benchmark is one client at one address.
			f := newFixture(b, openBenchStore(b, name), func(c *authserver.Config) { c.TokenRateLimit = &authserver.TokenRateLimit{} })
			key := dpoptest.NewKey(b)
			for _, kind := range []string{"bearer", "dpop"} {
				b.Run(kind, func(b *testing.B) {
					proofs := make([]string, b.N)
					if kind == "dpop" {
						for i := range proofs {
							proofs[i] = postProof(b, key, tokenHTU, "")
						}
					}
					var next atomic.Int64
					b.ReportAllocs()
					// 8 requests in flight per CPU, as from many clients: the store's group
					// commit then batches token writes, and what a proof adds shows at load.
					b.SetParallelism(8)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							req := httptest.NewRequest(http.MethodPost, authserver.PathToken, strings.NewReader(body))
							req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
							req.SetBasicAuth("svc", ccSecret)
							if p := proofs[next.Add(1)-1]; p != "" {
								req.Header.Set(authserver.HeaderDPoP, p)
							}
							w := httptest.NewRecorder()
							f.srv.ServeHTTP(w, req)
							want := `"token_type":"Bearer"`
							if kind == "dpop" {
								want = `"token_type":"DPoP"`
							}
							if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
								// Not Fatal: this is not the benchmark's own goroutine.
								b.Errorf("token: %d %s", w.Code, w.Body)
								return
							}
						}
					})
				})
			}
		})
	}
}
