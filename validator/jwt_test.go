package validator

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerifyAcceptsValidTokens(t *testing.T) {
	es := newES256(t, "es")
	rs := newRS256(t, "rs", 0)
	ed := newEdDSA(t, "ed")
	rsNoAlg := newRS256(t, "rs-noalg", 1)
	// rsNoAlg is published without `alg`: an RSA key then pins RS256.
	set := jwksOf(t, es.publicJWK(t, true), rs.publicJWK(t, true), ed.publicJWK(t, true), rsNoAlg.publicJWK(t, false))
	srv := newJWKSServer(t, set)
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)

	tests := []struct {
		name string
		key  *testKey
		hdr  map[string]any
	}{
		{"ES256 passes", es, nil},
		{"RS256 passes", rs, nil},
		{"EdDSA passes", ed, nil},
		{"RS256 with a key published without alg passes", rsNoAlg, nil},
		{"typ application/at+jwt passes", es, map[string]any{"typ": "application/at+jwt"}},
		{"typ at+jwt in any case passes", es, map[string]any{"typ": "AT+JWT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), sign(t, tt.key, header(tt.key, tt.hdr), claims(nil)))
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != "42" || id.ClientID != "client-1" || id.TokenID != "tok-1" || id.ScopeString != "read write" {
				t.Fatalf("identity = %+v", id)
			}
			if !id.ExpiresAt().Equal(testNow.Add(time.Hour)) || id.Issuer != testIssuer || !reflect.DeepEqual(id.Audience, []string{"api"}) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	es := newES256(t, "es")
	rs := newRS256(t, "rs", 0)
	other := newES256(t, "es") // same kid, different key: a forged signature
	srv := newJWKSServer(t, jwksFor(t, es, rs))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), func(o *JWTOptions) {
		o.Audiences = []string{"api", "other-api"}
	})
	good := sign(t, es, header(es, nil), claims(nil))
	parts := strings.Split(good, ".")

	rsaPub, _ := x509.MarshalPKIXPublicKey(rs.signer.Public())
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	rsaJWK, _ := json.Marshal(rs.publicJWK(t, true))

	tamperedPayload := parts[0] + "." + b64json(t, claims(map[string]any{"sub": "1"})) + "." + parts[2]
	sigBytes, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sigBytes[5] ^= 0x01
	tamperedSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sigBytes)
	noneHdr := b64json(t, map[string]any{"alg": "none", "kid": "es"})

	tests := []struct {
		name  string
		token string
		desc  string
	}{
		{"expired token is refused", sign(t, es, header(es, nil), claims(map[string]any{"exp": testNow.Add(-time.Minute).Unix()})), "token expired"},
		{"token expired exactly at the leeway edge is refused", sign(t, es, header(es, nil), claims(map[string]any{"exp": testNow.Add(-DefaultLeeway).Unix()})), "token expired"},
		{"nbf in the future beyond leeway is refused", sign(t, es, header(es, nil), claims(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), "token not yet valid"},
		{"wrong issuer is refused", sign(t, es, header(es, nil), claims(map[string]any{"iss": "https://evil.example.com"})), "issuer mismatch"},
		{"wrong audience is refused", sign(t, es, header(es, nil), claims(map[string]any{"aud": []string{"x", "y"}})), "audience mismatch"},
		{"missing audience is refused when audiences are configured", sign(t, es, header(es, nil), claims(map[string]any{"aud": nil})), "audience mismatch"},
		{"missing exp is refused", sign(t, es, header(es, nil), claims(map[string]any{"exp": nil})), "token has no expiry"},
		{"tampered payload is refused", tamperedPayload, "invalid signature"},
		{"tampered signature is refused", tamperedSig, "invalid signature"},
		{"signature by another key with the same kid is refused", sign(t, other, header(other, nil), claims(nil)), "invalid signature"},
		{"alg none without signature is refused", noneHdr + "." + parts[1] + ".", "unsigned token"},
		{"alg none with a signature is refused", noneHdr + "." + parts[1] + "." + parts[2], "unsigned token"},
		{"missing alg is refused", b64json(t, map[string]any{"kid": "es"}) + "." + parts[1] + "." + parts[2], "unsigned token"},
		{"HS256 keyed with the RSA public key PEM is refused", signHMAC(t, rsaPEM, map[string]any{"alg": "HS256", "kid": "rs"}, claims(nil)), "unsupported algorithm"},
		{"HS256 keyed with the RSA JWK is refused", signHMAC(t, rsaJWK, map[string]any{"alg": "HS256", "kid": "rs"}, claims(nil)), "unsupported algorithm"},
		{"header alg different from the key's pinned alg is refused", sign(t, es, header(es, map[string]any{"kid": "rs"}), claims(nil)), "algorithm not allowed for the signing key"},
		{"ES384 header on an ES256 key is refused", b64json(t, header(es, map[string]any{"alg": "ES384"})) + "." + parts[1] + "." + parts[2], "algorithm not allowed for the signing key"},
		{"unknown kid is refused", sign(t, es, header(es, map[string]any{"kid": "nope"}), claims(nil)), "unknown signing key"},
		{"typ other than an access token is refused", sign(t, es, header(es, map[string]any{"typ": "dpop+jwt"}), claims(nil)), "not an access token"},
		// RFC 9068 §4: a token of the configured issuer is an access token only if it says
		// so; JWT or no typ is what an ID token signed by the same keys would carry.
		{"typ JWT from the configured issuer is refused", sign(t, es, header(es, map[string]any{"typ": "JWT"}), claims(nil)), "not an access token: typ must be at+jwt"},
		{"absent typ from the configured issuer is refused", sign(t, es, header(es, map[string]any{"typ": nil}), claims(nil)), "not an access token: typ must be at+jwt"},
		{"missing iss is refused outside Passport mode", sign(t, es, header(es, map[string]any{"typ": "JWT"}), claims(map[string]any{"iss": nil})), "token has no issuer"},
		{"crit header is refused", sign(t, es, header(es, map[string]any{"crit": []string{"exp"}}), claims(nil)), "unsupported critical header"},
		{"two segments are refused", parts[0] + "." + parts[1], "malformed token"},
		{"four segments are refused", good + ".x", "malformed token"},
		{"five-segment JWE is refused", "a.b.c.d.e", "malformed token"},
		{"empty payload segment is refused", parts[0] + ".." + parts[2], "malformed token"},
		{"header that is not base64url is refused", "e$$." + parts[1] + "." + parts[2], "malformed token header"},
		{"header that is not JSON is refused", base64.RawURLEncoding.EncodeToString([]byte("{alg")) + "." + parts[1] + "." + parts[2], "malformed token header"},
		{"payload that is not JSON is refused", signPayload(t, es, "not json"), "malformed token claims"},
		{"sub of the wrong type is refused", sign(t, es, header(es, nil), claims(map[string]any{"sub": true})), "malformed token claims"},
		{"oversized token is refused", strings.Repeat("a", maxTokenSize+1), "token too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.token)
			r := wantRefusal(t, err, InvalidToken, tt.desc)
			if len(tt.token) > 10 && (strings.Contains(r.Error(), tt.token) || strings.Contains(r.Description, parts[2])) {
				t.Fatalf("refusal leaks the token: %v", r)
			}
		})
	}

	t.Run("expired token within the leeway passes", func(t *testing.T) {
		tok := sign(t, es, header(es, nil), claims(map[string]any{"exp": testNow.Add(-10 * time.Second).Unix()}))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nbf within the leeway passes", func(t *testing.T) {
		tok := sign(t, es, header(es, nil), claims(map[string]any{"nbf": testNow.Add(10 * time.Second).Unix()}))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("second configured audience passes", func(t *testing.T) {
		tok := sign(t, es, header(es, nil), claims(map[string]any{"aud": []string{"zzz", "other-api"}}))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
}

// signPayload signs an arbitrary payload string, for malformed-claims cases.
func signPayload(t *testing.T, k *testKey, payload string) string {
	input := b64json(t, header(k, nil)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return input + "." + base64.RawURLEncoding.EncodeToString(signRaw(t, k, k.alg, input))
}

func TestVerifyUnknownKidRefetchesOncePerInterval(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	clk := newClock(testNow)
	ks := newSource(t, srv.URL, KeySourceOptions{MinRefetchInterval: 10 * time.Second, Now: clk.now})
	v := newVerifier(t, ks, nil)
	if got := srv.requests.Load(); got != 1 {
		t.Fatalf("initial load made %d requests", got)
	}
	unknown := newES256(t, "unknown")
	for i := 0; i < 5; i++ {
		tok := sign(t, unknown, header(unknown, map[string]any{"kid": "unknown-" + string(rune('a'+i))}), claims(nil))
		_, err := v.Verify(context.Background(), tok)
		wantRefusal(t, err, InvalidToken, "unknown signing key")
	}
	if got := srv.requests.Load(); got != 2 {
		t.Fatalf("5 unknown kids within the interval made %d requests, want 1 initial + 1 refetch", got)
	}
	clk.add(11 * time.Second)
	_, err := v.Verify(context.Background(), sign(t, unknown, header(unknown, nil), claims(nil)))
	wantRefusal(t, err, InvalidToken, "unknown signing key")
	if got := srv.requests.Load(); got != 3 {
		t.Fatalf("after the interval: %d requests, want 3", got)
	}
	// A known kid never fetches.
	if _, err := v.Verify(context.Background(), sign(t, es, header(es, nil), claims(nil))); err != nil {
		t.Fatal(err)
	}
	if got := srv.requests.Load(); got != 3 {
		t.Fatalf("known kid fetched: %d requests", got)
	}
}

func TestVerifyConcurrentMissesShareOneFetch(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	ks := newSource(t, srv.URL, KeySourceOptions{})
	srv.delay = 100 * time.Millisecond
	v := newVerifier(t, ks, nil)
	unknown := newES256(t, "unknown")
	tok := sign(t, unknown, header(unknown, nil), claims(nil))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tok)
			if r, ok := AsRefusal(err); !ok || r.Kind != InvalidToken {
				t.Errorf("err = %v", err)
			}
		}()
	}
	wg.Wait()
	if got := srv.requests.Load(); got != 2 {
		t.Fatalf("16 concurrent misses made %d requests, want 1 initial + 1 shared refetch", got)
	}
}

func TestVerifyKidRotation(t *testing.T) {
	oldKey := newES256(t, "2025")
	newKey := newES256(t, "2026")
	srv := newJWKSServer(t, jwksFor(t, oldKey))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)

	tok := sign(t, newKey, header(newKey, nil), claims(nil))
	srv.set(jwksFor(t, newKey, oldKey)) // the server rotates; we have not refetched yet
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, oldKey, header(oldKey, nil), claims(nil))); err != nil {
		t.Fatalf("token with the previous kid: %v", err)
	}
	if got := srv.requests.Load(); got != 2 {
		t.Fatalf("requests = %d, want 2", got)
	}
}

func TestVerifyJWKSOutageKeepsOldKeysAndAnswersUnavailableForUnknownKid(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	var reported []error
	ks := newSource(t, srv.URL, KeySourceOptions{OnRefreshError: func(err error) { reported = append(reported, err) }})
	v := newVerifier(t, ks, nil)
	srv.status.Store(http.StatusInternalServerError)

	unknown := newES256(t, "unknown")
	_, err := v.Verify(context.Background(), sign(t, unknown, header(unknown, nil), claims(nil)))
	r := wantRefusal(t, err, Unavailable, "")
	if r.RetryAfter != DefaultMinRefetchInterval {
		t.Fatalf("RetryAfter = %v", r.RetryAfter)
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), srv.URL) {
		t.Fatalf("reported = %v", reported)
	}
	if _, err := v.Verify(context.Background(), sign(t, es, header(es, nil), claims(nil))); err != nil {
		t.Fatalf("known key after a failed refetch: %v", err)
	}
}

func TestVerifyScopeClaimFormsYieldTheSameScopes(t *testing.T) {
	es := newES256(t, "es")
	v := newVerifier(t, newSource(t, newJWKSServer(t, jwksFor(t, es)).URL, KeySourceOptions{}), nil)
	tests := []struct {
		name  string
		extra map[string]any
	}{
		{"scope string", map[string]any{"scope": "read write"}},
		{"scope string with extra spaces and a duplicate", map[string]any{"scope": " read  write read "}},
		{"scopes array (Passport)", map[string]any{"scope": nil, "scopes": []string{"read", "write"}}},
		{"scp array", map[string]any{"scope": nil, "scp": []string{"read", "write"}}},
		{"scp string", map[string]any{"scope": nil, "scp": "read write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), sign(t, es, header(es, nil), claims(tt.extra)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(id.Scopes, []string{"read", "write"}) || id.ScopeString != "read write" {
				t.Fatalf("Scopes = %q, ScopeString = %q", id.Scopes, id.ScopeString)
			}
		})
	}
	t.Run("no scope claim gives no scopes", func(t *testing.T) {
		id, err := v.Verify(context.Background(), sign(t, es, header(es, nil), claims(map[string]any{"scope": nil})))
		if err != nil {
			t.Fatal(err)
		}
		if id.Scopes != nil || id.ScopeString != "" {
			t.Fatalf("Scopes = %q, ScopeString = %q", id.Scopes, id.ScopeString)
		}
	})
}

// Passport signs RS256 tokens without kid, with the client id in aud, an empty sub for
// client-credentials tokens, a `scopes` array and fractional exp; its public key is a
// PEM file.
func TestVerifyPassportStyleTokens(t *testing.T) {
	rs := newRS256(t, "", 0)
	der, err := x509.MarshalPKIXPublicKey(rs.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "oauth-public.key")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	// No iss in the claims, no issuer in the options: exactly what Passport mints and what
	// a Passport user configures.
	v := newVerifier(t, newSource(t, file, KeySourceOptions{}), func(o *JWTOptions) { o.Issuer, o.Passport = "", true })
	passport := func(sub string) map[string]any {
		return map[string]any{
			"aud": "3", "jti": "9f8e", "sub": sub,
			"iat": float64(testNow.Unix()) - 0.25, "nbf": float64(testNow.Unix()) - 0.25,
			"exp": float64(testNow.Add(time.Hour).Unix()) + 0.5, "scopes": []string{"*"},
		}
	}
	hdr := map[string]any{"alg": "RS256", "typ": "JWT"}

	t.Run("empty sub is a client token", func(t *testing.T) {
		id, err := v.Verify(context.Background(), sign(t, rs, hdr, passport("")))
		if err != nil {
			t.Fatal(err)
		}
		if id.IsUser() || id.UserID != "" || id.ClientID != "3" || id.ScopeString != "*" || id.TokenID != "9f8e" {
			t.Fatalf("identity = %+v", id)
		}
		if want := testNow.Add(time.Hour).Add(500 * time.Millisecond); !id.ExpiresAt().Equal(want) {
			t.Fatalf("ExpiresAt = %v, want %v", id.ExpiresAt(), want)
		}
	})
	t.Run("sub 7 is a user token", func(t *testing.T) {
		id, err := v.Verify(context.Background(), sign(t, rs, hdr, passport("7")))
		if err != nil {
			t.Fatal(err)
		}
		if !id.IsUser() || id.UserID != "7" || id.Subject() != "7" || id.ClientID != "3" {
			t.Fatalf("identity = %+v", id)
		}
	})
	t.Run("sub equal to the client id is a client token", func(t *testing.T) {
		id, err := v.Verify(context.Background(), sign(t, rs, hdr, passport("3")))
		if err != nil {
			t.Fatal(err)
		}
		if id.IsUser() || id.Subject() != "3" {
			t.Fatalf("identity = %+v", id)
		}
	})
}

// A token without kid (Laravel Passport's) is checked against every key of its alg, so a
// server publishing its Passport key beside other RS256 keys (an OpenID Connect ID-token
// key, a retired key) still verifies it; a key not published never does, and a set with
// more keys of the alg than are tried refuses it rather than checking each.
func TestVerifyTokenWithoutKidTriesEachKeyOfItsAlg(t *testing.T) {
	a := newRS256(t, "a", 0)
	b := newRS256(t, "b", 1)
	stranger := newRS256(t, "stranger", 2)
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, a, b, es))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)

	for _, k := range []*testKey{a, b, es} {
		if _, err := v.Verify(context.Background(), sign(t, k, header(k, map[string]any{"kid": nil}), claims(nil))); err != nil {
			t.Fatalf("kid-less token signed by published key %s: %v", k.kid, err)
		}
	}
	_, err := v.Verify(context.Background(), sign(t, stranger, header(stranger, map[string]any{"kid": nil}), claims(nil)))
	wantRefusal(t, err, InvalidToken, "invalid signature")

	many := []*testKey{a, b}
	for i := 3; len(many) <= maxKidlessCandidates; i++ {
		many = append(many, newRS256(t, fmt.Sprintf("k%d", i), i))
	}
	srvMany := newJWKSServer(t, jwksFor(t, many...))
	vMany := newVerifier(t, newSource(t, srvMany.URL, KeySourceOptions{}), nil)
	_, err = vMany.Verify(context.Background(), sign(t, a, header(a, map[string]any{"kid": nil}), claims(nil)))
	wantRefusal(t, err, InvalidToken, "unknown signing key")
}

func TestVerifyCacheHitReturnsSameIdentityAndRechecksExpiry(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	cache, err := NewTokenCache(1000)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(testNow)
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), func(o *JWTOptions) {
		o.Cache = cache
		o.Now = clk.now
	})
	tok := sign(t, es, header(es, nil), claims(map[string]any{"exp": testNow.Add(time.Minute).Unix()}))
	// The first sighting is verified and only recorded; the second is verified and cached.
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.Get(tok); ok {
		t.Fatal("a token seen once was cached")
	}
	second, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	third, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// The cache keeps a compact copy: the same claims, shared by every later hit.
	if second.TokenID != third.TokenID || second.ClientID != third.ClientID || !second.ExpiresAt().Equal(third.ExpiresAt()) {
		t.Fatal("cache hit returned a different identity")
	}
	if fourth, _ := cache.Get(tok); fourth != third {
		t.Fatal("cache hits do not share the cached identity")
	}
	if cache.Hits() != 2 || cache.Misses() != 3 { // the Gets above, and the first two Verifys
		t.Fatalf("hits = %d, misses = %d", cache.Hits(), cache.Misses())
	}
	// Past exp + leeway by our clock, though the cache's own TTL (wall clock) has not run out.
	clk.add(time.Minute + DefaultLeeway)
	_, err = v.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "token expired")
	if cache.Hits() != 3 {
		t.Fatalf("expiry was not checked on a cache hit (hits = %d)", cache.Hits())
	}
}

func TestVerifyCacheSharedByVerifiersRechecksIssuerAndAudience(t *testing.T) {
	es := newES256(t, "es")
	ks := newSource(t, newJWKSServer(t, jwksFor(t, es)).URL, KeySourceOptions{})
	cache, err := NewTokenCache(1000)
	if err != nil {
		t.Fatal(err)
	}
	a := newVerifier(t, ks, func(o *JWTOptions) { o.Cache = cache })
	b := newVerifier(t, ks, func(o *JWTOptions) { o.Cache = cache; o.Issuer = "https://other.example.com" })
	c := newVerifier(t, ks, func(o *JWTOptions) { o.Cache = cache; o.Audiences = []string{"billing"} })
	tok := sign(t, es, header(es, nil), claims(nil))
	for range 2 { // cached on the second sighting
		if _, err := a.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := cache.Get(tok); !ok {
		t.Fatal("token not cached")
	}
	_, err = b.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "issuer mismatch")
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "audience mismatch")
}

func TestNewJWTVerifierRequiresKeysAndIssuer(t *testing.T) {
	es := newES256(t, "es")
	ks := newSource(t, newJWKSServer(t, jwksFor(t, es)).URL, KeySourceOptions{})
	if _, err := NewJWTVerifier(JWTOptions{Issuer: testIssuer}); err == nil {
		t.Fatal("no key source accepted")
	}
	if _, err := NewJWTVerifier(JWTOptions{Keys: ks}); err == nil {
		t.Fatal("no issuer accepted")
	}
}
