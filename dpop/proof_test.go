package dpop

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

var t0 = time.Unix(1_800_000_000, 0)

const apiURL = "https://api.example/v1/things"

// claims are the claims of a good proof for a GET of apiURL at t0, with changes.
func claims(changes map[string]any) map[string]any {
	return dpoptest.Claims("GET", apiURL, "", t0, changes)
}

func request() *Request {
	return &Request{Method: "GET", URL: apiURL, Now: t0}
}

func TestGoodProofsOfEachKeyType(t *testing.T) {
	v := NewVerifier(Options{})
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256, jwa.ES384, jwa.PS256, jwa.RS256, jwa.EdDSA} {
		c := dpoptest.NewKeyAlg(t, alg)
		p, err := v.Verify(c.Sign(t, claims(nil), nil), request())
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if p.JKT != c.JKT {
			t.Fatalf("%s: jkt %q, want %q", alg, p.JKT, c.JKT)
		}
		if !p.IssuedAt.Equal(t0) || !strings.HasPrefix(p.ID, "jti-") {
			t.Fatalf("%s: proof %+v", alg, p)
		}
		// Again, from the key cache.
		if p2, err := v.Verify(c.Sign(t, claims(nil), nil), request()); err != nil || p2.JKT != p.JKT {
			t.Fatalf("%s second proof: %v %+v", alg, err, p2)
		}
	}
}

// wantCode checks that err is a dpop *Error with code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func TestProofsThatMustFail(t *testing.T) {
	v := NewVerifier(Options{})
	c := dpoptest.NewKeyAlg(t, jwa.ES256)
	other := dpoptest.NewKeyAlg(t, jwa.ES256)
	private, err := jwk.FromRaw(c.Private)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallClient := dpoptest.KeyOf(t, jwa.RS256, small)
	good := c.Sign(t, claims(nil), nil)
	hdr, payload, _ := strings.Cut(good, ".")
	payload, sig, _ := strings.Cut(payload, ".")
	otherSig := other.Sign(t, claims(nil), nil)
	tampered := hdr + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"x","htm":"POST","htu":"`+apiURL+`","iat":1800000000}`)) + "." + sig
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":` + mustJSON(t, c.Public) + `}`))
	hmacKey, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	for _, tc := range []struct {
		name, proof string
	}{
		{"empty", ""},
		{"two segments", hdr + "." + payload},
		{"four segments", good + ".x"},
		{"oversized", strings.Repeat("a", maxProofLen+1)},
		{"signature by another key", hdr + "." + payload + "." + strings.Split(otherSig, ".")[2]},
		{"payload changed after signing", tampered},
		{"alg none", noneHdr + "." + payload + "."},
		{"typ JWT", c.Sign(t, claims(nil), map[string]any{"typ": "JWT"})},
		{"typ missing", c.Sign(t, claims(nil), map[string]any{"typ": nil})},
		{"no jwk", c.Sign(t, claims(nil), map[string]any{"jwk": nil})},
		{"private jwk", c.Sign(t, claims(nil), map[string]any{"jwk": private})},
		{"symmetric jwk", c.Sign(t, claims(nil), map[string]any{"jwk": hmacKey})},
		{"jwk of another key", c.Sign(t, claims(nil), map[string]any{"jwk": other.Public})},
		{"crit", c.Sign(t, claims(nil), map[string]any{"crit": []string{"exp"}})},
		{"RSA under 2048 bits", smallClient.Sign(t, claims(nil), nil)},
		{"no jti", c.Sign(t, claims(map[string]any{"jti": nil}), nil)},
		{"jti too long", c.Sign(t, claims(map[string]any{"jti": strings.Repeat("j", maxJTILen+1)}), nil)},
		{"htm POST for GET", c.Sign(t, claims(map[string]any{"htm": "POST"}), nil)},
		{"htm lower case", c.Sign(t, claims(map[string]any{"htm": "get"}), nil)},
		{"htu other path", c.Sign(t, claims(map[string]any{"htu": "https://api.example/v1/other"}), nil)},
		{"htu other host", c.Sign(t, claims(map[string]any{"htu": "https://evil.example/v1/things"}), nil)},
		{"htu http for https", c.Sign(t, claims(map[string]any{"htu": "http://api.example/v1/things"}), nil)},
		{"htu relative", c.Sign(t, claims(map[string]any{"htu": "/v1/things"}), nil)},
		{"no htu", c.Sign(t, claims(map[string]any{"htu": nil}), nil)},
		{"iat 61 s old", c.Sign(t, claims(map[string]any{"iat": t0.Unix() - 61}), nil)},
		{"iat 61 s ahead", c.Sign(t, claims(map[string]any{"iat": t0.Unix() + 61}), nil)},
		{"iat a string", c.Sign(t, claims(map[string]any{"iat": "1800000000"}), nil)},
		{"no iat", c.Sign(t, claims(map[string]any{"iat": nil}), nil)},
		{"claims not an object", c.Sign(t, nil, nil)},
	} {
		if _, err := v.Verify(tc.proof, request()); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else {
			wantCode(t, tc.name, err, CodeInvalidProof)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestURLMatchIgnoresQueryAndNormalizes(t *testing.T) {
	v := NewVerifier(Options{})
	c := dpoptest.NewKeyAlg(t, jwa.ES256)
	for _, htu := range []string{
		"https://api.example/v1/things?page=2#top",
		"HTTPS://API.example:443/v1/things",
		"https://api.example/v1/%74hings",
		"https://api.example/v1/./x/../things",
	} {
		if _, err := v.Verify(c.Sign(t, claims(map[string]any{"htu": htu}), nil), request()); err != nil {
			t.Errorf("htu %q: %v", htu, err)
		}
	}
}

func TestAccessTokenHash(t *testing.T) {
	v := NewVerifier(Options{})
	c := dpoptest.NewKeyAlg(t, jwa.ES256)
	const token = "eyJhbGciOiJFUzI1NiJ9.e30.sig"
	req := request()
	req.AccessToken = token
	// RFC 9449 §4.2: base64url of the SHA-256 of the token's ASCII bytes.
	if _, err := v.Verify(c.Sign(t, claims(map[string]any{"ath": AccessTokenHash(token)}), nil), req); err != nil {
		t.Fatalf("right ath: %v", err)
	}
	for name, ath := range map[string]any{"no ath": nil, "other token's ath": AccessTokenHash(token + "x")} {
		_, err := v.Verify(c.Sign(t, claims(map[string]any{"ath": ath}), nil), req)
		wantCode(t, name, err, CodeInvalidProof)
	}
}

func TestNonceRequired(t *testing.T) {
	v := NewVerifier(Options{})
	c := dpoptest.NewKeyAlg(t, jwa.ES256)
	n, err := NewNonces(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	req := request()
	req.Nonce = func(s string) bool { return n.Valid(s, t0) }
	_, err = v.Verify(c.Sign(t, claims(nil), nil), req)
	wantCode(t, "no nonce", err, CodeUseNonce)
	other, _ := NewNonces(nil, 0)
	_, err = v.Verify(c.Sign(t, claims(map[string]any{"nonce": other.Issue(t0)}), nil), req)
	wantCode(t, "another server's nonce", err, CodeUseNonce)
	_, err = v.Verify(c.Sign(t, claims(map[string]any{"nonce": n.Issue(t0.Add(-DefaultNonceLife - time.Second))}), nil), req)
	wantCode(t, "stale nonce", err, CodeUseNonce)
	if _, err := v.Verify(c.Sign(t, claims(map[string]any{"nonce": n.Issue(t0)}), nil), req); err != nil {
		t.Fatalf("fresh nonce: %v", err)
	}
}
