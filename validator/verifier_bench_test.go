package validator

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// benchKeys loads one ES256 key from a JWKS file, so no HTTP server is in the picture.
func benchKeys(b *testing.B) (*testKey, *KeySource) {
	b.Helper()
	k := newES256(b, "bench")
	file := filepath.Join(b.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwksFor(b, k), 0o600); err != nil {
		b.Fatal(err)
	}
	return k, newSource(b, file, KeySourceOptions{})
}

// benchClaims are the claims of a typical access token, distinct per i.
func benchClaims(i int) map[string]any {
	return claims(map[string]any{"jti": "tok-" + strconv.Itoa(i), "scope": "orders:read orders:write profile"})
}

// benchTokens signs n distinct tokens, outside the timer.
func benchTokens(b *testing.B, k *testKey, n int) []string {
	b.Helper()
	toks := make([]string, n)
	for i := range toks {
		toks[i] = sign(b, k, header(k, nil), benchClaims(i))
	}
	return toks
}

func benchCachedVerifier(b *testing.B) (*JWTVerifier, string) {
	b.Helper()
	k, ks := benchKeys(b)
	cache, err := NewTokenCache(10000)
	if err != nil {
		b.Fatal(err)
	}
	v := newVerifier(b, ks, func(o *JWTOptions) { o.Cache = cache })
	tok := benchTokens(b, k, 1)[0]
	for range 2 { // cached on the second sighting
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
	if _, ok := cache.Get(tok); !ok {
		b.Fatal("token not cached")
	}
	return v, tok
}

func BenchmarkVerifyCacheHit(b *testing.B) {
	v, tok := benchCachedVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCacheHitParallel(b *testing.B) {
	v, tok := benchCachedVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyCold verifies a new token every iteration with no cache: header decode,
// key lookup, signature, claims, identity.
func BenchmarkVerifyCold(b *testing.B) {
	k, ks := benchKeys(b)
	v := newVerifier(b, ks, nil)
	toks := benchTokens(b, k, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, toks[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawES256Verify is the floor: sha256 of the same signing input and ecdsa.Verify
// of the same kind of signature, nothing else.
func BenchmarkRawES256Verify(b *testing.B) {
	k, _ := benchKeys(b)
	pub := k.signer.Public().(*ecdsa.PublicKey)
	type sig struct {
		input []byte
		r, s  *big.Int
	}
	sigs := make([]sig, b.N)
	for i, tok := range benchTokens(b, k, b.N) {
		dot := strings.LastIndexByte(tok, '.')
		raw, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		sigs[i] = sig{[]byte(tok[:dot]), new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := sha256.Sum256(sigs[i].input)
		if !ecdsa.Verify(pub, h[:], sigs[i].r, sigs[i].s) {
			b.Fatal("signature did not verify")
		}
	}
}

// BenchmarkJWSVerifyCompact is jwx's one-call jws.Verify on the same tokens, for
// comparison: it re-parses the header into a generic object and re-encodes the payload,
// which is why the verifier calls jwx's per-algorithm verifier directly instead.
func BenchmarkJWSVerifyCompact(b *testing.B) {
	k, ks := benchKeys(b)
	found, err := ks.Lookup(context.Background(), k.kid, "ES256")
	if err != nil {
		b.Fatal(err)
	}
	key := found[0]
	toks := benchTokens(b, k, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jws.Verify([]byte(toks[i]), jws.WithKey(jwa.ES256, key)); err != nil {
			b.Fatal(err)
		}
	}
}
