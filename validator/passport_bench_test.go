package validator

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
)

// passportBenchTokens is how many distinct Passport tokens a benchmark cycles through.
// RSA 4096 signing costs milliseconds, so tokens are not made per iteration; with no
// token cache every verification does the whole work regardless.
const passportBenchTokens = 64

// passportBench is a passport-mode verifier over oauth-public.key (PEM, no kid, as
// Passport writes it) with stock Passport tokens, and what the raw RS256 check of the
// same tokens needs.
type passportBench struct {
	v      *JWTVerifier
	toks   []string
	pub    *rsa.PublicKey
	inputs [][]byte // signing inputs: header.payload as sent
	sigs   [][]byte
}

func newPassportBench(b *testing.B, bits int) *passportBench {
	b.Helper()
	k := newPassportKeys(b, bits)
	pb := &passportBench{
		// No cache: every Verify is a cold verify (the guard's path for a token it has not
		// seen twice).
		v:   newVerifier(b, newSource(b, k.file, KeySourceOptions{}), func(o *JWTOptions) { o.Issuer, o.Passport = "", true }),
		pub: &k.Private.PublicKey,
	}
	for i := range passportBenchTokens {
		tok := k.Mint(laravel.AccessToken{
			ID: laravel.NewTokenID(), ClientID: "3", UserID: fmt.Sprint(1000 + i), Scopes: []string{"orders:read", "orders:write", "profile"},
			IssuedAt: testNow.Add(-time.Second + 123456*time.Microsecond), ExpiresAt: testNow.Add(365*24*time.Hour + 123456*time.Microsecond),
		})
		dot := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		if err != nil {
			b.Fatal(err)
		}
		pb.toks = append(pb.toks, tok)
		pb.inputs = append(pb.inputs, []byte(tok[:dot]))
		pb.sigs = append(pb.sigs, sig)
		if _, err := pb.v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
	return pb
}

func (pb *passportBench) verify(b *testing.B, i int) {
	if _, err := pb.v.Verify(context.Background(), pb.toks[i%passportBenchTokens]); err != nil {
		b.Fatal(err)
	}
}

// raw is the floor: SHA-256 of the same signing input and rsa.VerifyPKCS1v15 of the
// same signature, nothing else (no base64, no JSON, no key lookup, no claims).
func (pb *passportBench) raw(b *testing.B, i int) {
	j := i % passportBenchTokens
	h := sha256.Sum256(pb.inputs[j])
	if err := rsa.VerifyPKCS1v15(pb.pub, crypto.SHA256, h[:], pb.sigs[j]); err != nil {
		b.Fatal(err)
	}
}

var passportBenchSizes = []int{2048, 4096}

// BenchmarkPassportVerifyCold is the guard's cold verify of a stock Passport RS256 token
// in passport mode (split, header, key by alg, signature, claims, identity) beside the
// raw RS256 verify of the same tokens, for RSA 2048 and 4096 (passport:keys' default).
func BenchmarkPassportVerifyCold(b *testing.B) {
	for _, bits := range passportBenchSizes {
		pb := newPassportBench(b, bits)
		b.Run(fmt.Sprintf("rsa%d/verifier", bits), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				pb.verify(b, i)
			}
		})
		b.Run(fmt.Sprintf("rsa%d/raw", bits), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				pb.raw(b, i)
			}
		})
	}
}

// BenchmarkPassportVerifyRatio reports the cold verify's cost as a multiple of the raw
// RS256 verify (target: at most 1.3x). The two run in alternating batches within one
// benchmark, so CPU shared with other work slows both alike and the ratio stays
// meaningful where separate ns/op figures drift. ns/op is one verifier call plus one
// raw verify.
func BenchmarkPassportVerifyRatio(b *testing.B) {
	const batch = 16
	for _, bits := range passportBenchSizes {
		pb := newPassportBench(b, bits)
		b.Run(fmt.Sprintf("rsa%d", bits), func(b *testing.B) {
			var verifier, raw time.Duration
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				t0 := time.Now()
				for j := range n {
					pb.verify(b, i+j)
				}
				t1 := time.Now()
				for j := range n {
					pb.raw(b, i+j)
				}
				verifier += t1.Sub(t0)
				raw += time.Since(t1)
			}
			b.ReportMetric(float64(verifier.Nanoseconds())/float64(b.N), "verifier-ns/op")
			b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(verifier)/float64(raw), "x-raw")
		})
	}
}
