package validator

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// admitFixture is a verifier with a cache over a JWKS file holding k.
func admitFixture(t *testing.T, k *testKey, mutate func(*JWTOptions)) (*JWTVerifier, *TokenCache) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwksFor(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, file, KeySourceOptions{})
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	cache, err := NewTokenCache(100)
	if err != nil {
		t.Fatal(err)
	}
	return newVerifier(t, src, func(o *JWTOptions) {
		o.Cache = cache
		if mutate != nil {
			mutate(o)
		}
	}), cache
}

// A token admitted at issuance is a cache hit on its first use, and still goes through
// every claim check there.
func TestAdmittedTokenIsACacheHitOnFirstUse(t *testing.T) {
	k := newES256(t, "k1")
	v, cache := admitFixture(t, k, nil)
	tok := sign(t, k, header(k, nil), claims(nil))
	if !v.Admit(tok, k.signer.Public()) {
		t.Fatal("a token signed by the verifier's own key was not admitted")
	}
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if cache.Hits() != 1 || cache.Misses() != 0 {
		t.Fatalf("first use: hits %d, misses %d, want a hit", cache.Hits(), cache.Misses())
	}
	if id.UserID != "42" || id.ClientID != "client-1" || id.ScopeString != "read write" {
		t.Fatalf("identity %+v", id)
	}
}

// Admit takes nothing on trust: a key that is not the one the verifier's key set names
// for the token's kid, another issuer or audience, an expired token, an unknown kid, a
// token of another typ, a verifier without a cache: nothing is admitted.
func TestAdmitRefusesWhatTheVerifierWouldRefuse(t *testing.T) {
	k := newES256(t, "k1")
	impostor := newES256(t, "k1") // same kid, another key
	v, cache := admitFixture(t, k, func(o *JWTOptions) { o.Audiences = []string{"api"} })
	cases := map[string]struct {
		tok    string
		signer any
	}{
		"signed with another key under the same kid":  {sign(t, impostor, header(impostor, nil), claims(nil)), impostor.signer.Public()},
		"the right token, announced with another key": {sign(t, k, header(k, nil), claims(map[string]any{"jti": "t2"})), impostor.signer.Public()},
		"another issuer":    {sign(t, k, header(k, nil), claims(map[string]any{"iss": "https://evil.example"})), k.signer.Public()},
		"another audience":  {sign(t, k, header(k, nil), claims(map[string]any{"aud": "other"})), k.signer.Public()},
		"expired":           {sign(t, k, header(k, nil), claims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), k.signer.Public()},
		"unknown kid":       {sign(t, k, header(k, map[string]any{"kid": "nope"}), claims(nil)), k.signer.Public()},
		"an ID token's typ": {sign(t, k, header(k, map[string]any{"typ": "JWT"}), claims(nil)), k.signer.Public()},
		"not a JWT":         {"garbage", k.signer.Public()},
	}
	for name, c := range cases {
		if v.Admit(c.tok, c.signer) {
			t.Errorf("%s: admitted", name)
		}
	}
	if n := cache.Len(); n != 0 {
		t.Fatalf("%d tokens cached", n)
	}
	noCache := newVerifier(t, v.keys, nil)
	if noCache.Admit(sign(t, k, header(k, nil), claims(nil)), k.signer.Public()) {
		t.Error("a verifier without a cache admitted a token")
	}
}
