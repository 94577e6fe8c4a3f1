package dpop

import (
	"strconv"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

// BenchmarkVerifyES256 is the per-request cost of a proof at the guard: a new proof
// (new jti) with a key already seen, ath checked, and the replay check.
func BenchmarkVerifyES256(b *testing.B) {
	benchmarkVerify(b, jwa.ES256)
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	benchmarkVerify(b, jwa.EdDSA)
}

func benchmarkVerify(b *testing.B, alg jwa.SignatureAlgorithm) {
	v := NewVerifier(Options{})
	replay := NewReplayCache(v.Window(), 0)
	c := dpoptest.NewKeyAlg(b, alg)
	const token = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln"
	proofs := make([]string, 4096)
	for i := range proofs {
		proofs[i] = c.Sign(b, map[string]any{"jti": strconv.Itoa(i), "htm": "GET", "htu": apiURL,
			"iat": t0.Unix(), "ath": AccessTokenHash(token)}, nil)
	}
	req := &Request{Method: "GET", URL: apiURL, AccessToken: token, Now: t0}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := v.Verify(proofs[i%len(proofs)], req)
		if err != nil {
			b.Fatal(err)
		}
		// Each round of proofs is new to the cache: a later round is a later time.
		if err := replay.Use(p, t0.Add(time.Duration(i/len(proofs))*5*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}
