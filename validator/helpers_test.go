package validator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// testNow is the fixed clock of the tests: tokens' exp/nbf are set relative to it.
var testNow = time.Unix(1_800_000_000, 0)

const testIssuer = "https://auth.example.com"

// testKey is a signing key with the kid and alg it is published under.
type testKey struct {
	kid    string
	alg    string
	signer crypto.Signer
}

func newECKey(t testing.TB, kid string, curve elliptic.Curve, alg string) *testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, signer: k}
}

func newES256(t testing.TB, kid string) *testKey {
	return newECKey(t, kid, elliptic.P256(), "ES256")
}

var (
	rsaOnce sync.Once
	rsaKeys [6]*rsa.PrivateKey
)

// newRS256 hands out one of a few pre-generated 2048-bit keys: generating RSA keys is
// slow, and the tests only need distinct ones.
func newRS256(t testing.TB, kid string, n int) *testKey {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return &testKey{kid: kid, alg: "RS256", signer: rsaKeys[n]}
}

func newEdDSA(t testing.TB, kid string) *testKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: "EdDSA", signer: k}
}

// publicJWK is the key as a JWKS publishes it; withAlg controls whether `alg` is set.
func (k *testKey) publicJWK(t testing.TB, withAlg bool) jwk.Key {
	t.Helper()
	j, err := jwk.FromRaw(k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if k.kid != "" {
		_ = j.Set(jwk.KeyIDKey, k.kid)
	}
	if withAlg {
		_ = j.Set(jwk.AlgorithmKey, k.alg)
	}
	return j
}

func jwksOf(t testing.TB, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwksFor(t testing.TB, keys ...*testKey) []byte {
	t.Helper()
	var js []jwk.Key
	for _, k := range keys {
		js = append(js, k.publicJWK(t, true))
	}
	return jwksOf(t, js...)
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// header returns the usual protected header for k; extra entries override (nil deletes).
func header(k *testKey, extra map[string]any) map[string]any {
	h := map[string]any{"alg": k.alg, "typ": "at+jwt"}
	if k.kid != "" {
		h["kid"] = k.kid
	}
	for n, v := range extra {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	return h
}

// claims returns valid claims for testNow; extra entries override (nil deletes).
func claims(extra map[string]any) map[string]any {
	c := map[string]any{
		"iss":       testIssuer,
		"sub":       "42",
		"aud":       "api",
		"client_id": "client-1",
		"jti":       "tok-1",
		"scope":     "read write",
		"iat":       testNow.Add(-time.Minute).Unix(),
		"exp":       testNow.Add(time.Hour).Unix(),
	}
	for n, v := range extra {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	return c
}

// signRaw signs signingInput with k's algorithm the way JWS does.
func signRaw(t testing.TB, k *testKey, alg string, input string) []byte {
	t.Helper()
	switch alg {
	case "ES256", "ES384", "ES512":
		var h []byte
		var size int
		switch alg {
		case "ES256":
			s := sha256.Sum256([]byte(input))
			h, size = s[:], 32
		case "ES384":
			s := sha512.Sum384([]byte(input))
			h, size = s[:], 48
		default:
			s := sha512.Sum512([]byte(input))
			h, size = s[:], 66
		}
		r, s, err := ecdsa.Sign(rand.Reader, k.signer.(*ecdsa.PrivateKey), h)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case "RS256":
		h := sha256.Sum256([]byte(input))
		out, err := rsa.SignPKCS1v15(rand.Reader, k.signer.(*rsa.PrivateKey), crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return out
	case "EdDSA":
		return ed25519.Sign(k.signer.(ed25519.PrivateKey), []byte(input))
	}
	t.Fatalf("signRaw: unsupported alg %s", alg)
	return nil
}

// sign builds a compact JWS with header hdr and claims cl, signed by k.
func sign(t testing.TB, k *testKey, hdr, cl map[string]any) string {
	t.Helper()
	input := b64json(t, hdr) + "." + b64json(t, cl)
	return input + "." + base64.RawURLEncoding.EncodeToString(signRaw(t, k, k.alg, input))
}

// signHMAC builds an HS256 token keyed with secret, as an attacker would.
func signHMAC(t testing.TB, secret []byte, hdr, cl map[string]any) string {
	t.Helper()
	input := b64json(t, hdr) + "." + b64json(t, cl)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// jwksServer serves a key set that tests can swap, and counts requests.
type jwksServer struct {
	*httptest.Server
	body     atomic.Pointer[[]byte]
	status   atomic.Int32
	requests atomic.Int32
	delay    time.Duration
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(body)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
		if st := int(s.status.Load()); st != http.StatusOK {
			w.WriteHeader(st)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) { s.body.Store(&body) }

// clock is a settable time source for Now options.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// newSource loads keys from srv without background refresh.
func newSource(t testing.TB, location string, opts KeySourceOptions) *KeySource {
	t.Helper()
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = -1
	}
	ks, err := NewKeySource(location, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	return ks
}

func newVerifier(t testing.TB, keys *KeySource, mutate func(*JWTOptions)) *JWTVerifier {
	t.Helper()
	opts := JWTOptions{Keys: keys, Issuer: testIssuer, Now: func() time.Time { return testNow }}
	if mutate != nil {
		mutate(&opts)
	}
	v, err := NewJWTVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantRefusal asserts err is a Refusal of kind with the description.
func wantRefusal(t testing.TB, err error, kind Kind, desc string) *Refusal {
	t.Helper()
	r, ok := AsRefusal(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *Refusal", err, err)
	}
	if r.Kind != kind {
		t.Fatalf("kind = %v, want %v (err: %v)", r.Kind, kind, err)
	}
	if desc != "" && r.Description != desc {
		t.Fatalf("description = %q, want %q (err: %v)", r.Description, desc, err)
	}
	return r
}
