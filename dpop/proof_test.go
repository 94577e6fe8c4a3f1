package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
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
	"github.com/lestrrat-go/jwx/v2/jws"
)

var t0 = time.Unix(1_800_000_000, 0)

const apiURL = "https://api.example/v1/things"

// client is a DPoP key holder, signing proofs as a client would.
type client struct {
	alg  jwa.SignatureAlgorithm
	priv crypto.Signer
	pub  jwk.Key
}

func newClient(t testing.TB, alg jwa.SignatureAlgorithm) *client {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jwa.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jwa.PS256, jwa.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwa.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &client{alg: alg, priv: priv, pub: pub}
}

// jkt is the client key's RFC 7638 thumbprint, computed apart from the verifier.
func (c *client) jkt(t testing.TB) string {
	tp, err := c.pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proof signs claims with header fields hdr (typ dpop+jwt and the public jwk unless hdr
// says otherwise; a nil value removes a field).
func (c *client) proof(t testing.TB, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	h := jws.NewHeaders()
	fields := map[string]any{"typ": TokenType, "jwk": c.pub}
	for k, v := range hdr {
		fields[k] = v
	}
	for k, v := range fields {
		if v == nil {
			continue
		}
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(c.alg, c.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// claims are the claims of a good proof for a GET of apiURL at t0, with changes.
func claims(changes map[string]any) map[string]any {
	c := map[string]any{"jti": "jti-" + base64.RawURLEncoding.EncodeToString([]byte(time.Now().String())),
		"htm": "GET", "htu": apiURL, "iat": t0.Unix()}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func request() *Request {
	return &Request{Method: "GET", URL: apiURL, Now: t0}
}

func TestGoodProofsOfEachKeyType(t *testing.T) {
	v := NewVerifier(Options{})
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256, jwa.ES384, jwa.PS256, jwa.RS256, jwa.EdDSA} {
		c := newClient(t, alg)
		p, err := v.Verify(c.proof(t, claims(nil), nil), request())
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if p.JKT != c.jkt(t) {
			t.Fatalf("%s: jkt %q, want %q", alg, p.JKT, c.jkt(t))
		}
		if !p.IssuedAt.Equal(t0) || !strings.HasPrefix(p.ID, "jti-") {
			t.Fatalf("%s: proof %+v", alg, p)
		}
		// Again, from the key cache.
		if p2, err := v.Verify(c.proof(t, claims(nil), nil), request()); err != nil || p2.JKT != p.JKT {
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
	c := newClient(t, jwa.ES256)
	other := newClient(t, jwa.ES256)
	private, err := jwk.FromRaw(c.priv)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallClient := &client{alg: jwa.RS256, priv: small}
	if smallClient.pub, err = jwk.FromRaw(small.Public()); err != nil {
		t.Fatal(err)
	}
	good := c.proof(t, claims(nil), nil)
	hdr, payload, _ := strings.Cut(good, ".")
	payload, sig, _ := strings.Cut(payload, ".")
	otherSig := other.proof(t, claims(nil), nil)
	tampered := hdr + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"x","htm":"POST","htu":"`+apiURL+`","iat":1800000000}`)) + "." + sig
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":` + mustJSON(t, c.pub) + `}`))
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
		{"typ JWT", c.proof(t, claims(nil), map[string]any{"typ": "JWT"})},
		{"typ missing", c.proof(t, claims(nil), map[string]any{"typ": nil})},
		{"no jwk", c.proof(t, claims(nil), map[string]any{"jwk": nil})},
		{"private jwk", c.proof(t, claims(nil), map[string]any{"jwk": private})},
		{"symmetric jwk", c.proof(t, claims(nil), map[string]any{"jwk": hmacKey})},
		{"jwk of another key", c.proof(t, claims(nil), map[string]any{"jwk": other.pub})},
		{"crit", c.proof(t, claims(nil), map[string]any{"crit": []string{"exp"}})},
		{"RSA under 2048 bits", smallClient.proof(t, claims(nil), nil)},
		{"no jti", c.proof(t, claims(map[string]any{"jti": nil}), nil)},
		{"jti too long", c.proof(t, claims(map[string]any{"jti": strings.Repeat("j", maxJTILen+1)}), nil)},
		{"htm POST for GET", c.proof(t, claims(map[string]any{"htm": "POST"}), nil)},
		{"htm lower case", c.proof(t, claims(map[string]any{"htm": "get"}), nil)},
		{"htu other path", c.proof(t, claims(map[string]any{"htu": "https://api.example/v1/other"}), nil)},
		{"htu other host", c.proof(t, claims(map[string]any{"htu": "https://evil.example/v1/things"}), nil)},
		{"htu http for https", c.proof(t, claims(map[string]any{"htu": "http://api.example/v1/things"}), nil)},
		{"htu relative", c.proof(t, claims(map[string]any{"htu": "/v1/things"}), nil)},
		{"no htu", c.proof(t, claims(map[string]any{"htu": nil}), nil)},
		{"iat 61 s old", c.proof(t, claims(map[string]any{"iat": t0.Unix() - 61}), nil)},
		{"iat 61 s ahead", c.proof(t, claims(map[string]any{"iat": t0.Unix() + 61}), nil)},
		{"iat a string", c.proof(t, claims(map[string]any{"iat": "1800000000"}), nil)},
		{"no iat", c.proof(t, claims(map[string]any{"iat": nil}), nil)},
		{"claims not an object", c.proof(t, nil, nil)},
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
	c := newClient(t, jwa.ES256)
	for _, htu := range []string{
		"https://api.example/v1/things?page=2#top",
		"HTTPS://API.example:443/v1/things",
		"https://api.example/v1/%74hings",
		"https://api.example/v1/./x/../things",
	} {
		if _, err := v.Verify(c.proof(t, claims(map[string]any{"htu": htu}), nil), request()); err != nil {
			t.Errorf("htu %q: %v", htu, err)
		}
	}
}

func TestAccessTokenHash(t *testing.T) {
	v := NewVerifier(Options{})
	c := newClient(t, jwa.ES256)
	const token = "eyJhbGciOiJFUzI1NiJ9.e30.sig"
	req := request()
	req.AccessToken = token
	// RFC 9449 §4.2: base64url of the SHA-256 of the token's ASCII bytes.
	if _, err := v.Verify(c.proof(t, claims(map[string]any{"ath": AccessTokenHash(token)}), nil), req); err != nil {
		t.Fatalf("right ath: %v", err)
	}
	for name, ath := range map[string]any{"no ath": nil, "other token's ath": AccessTokenHash(token + "x")} {
		_, err := v.Verify(c.proof(t, claims(map[string]any{"ath": ath}), nil), req)
		wantCode(t, name, err, CodeInvalidProof)
	}
}

func TestNonceRequired(t *testing.T) {
	v := NewVerifier(Options{})
	c := newClient(t, jwa.ES256)
	n, err := NewNonces(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	req := request()
	req.Nonce = func(s string) bool { return n.Valid(s, t0) }
	_, err = v.Verify(c.proof(t, claims(nil), nil), req)
	wantCode(t, "no nonce", err, CodeUseNonce)
	other, _ := NewNonces(nil, 0)
	_, err = v.Verify(c.proof(t, claims(map[string]any{"nonce": other.Issue(t0)}), nil), req)
	wantCode(t, "another server's nonce", err, CodeUseNonce)
	_, err = v.Verify(c.proof(t, claims(map[string]any{"nonce": n.Issue(t0.Add(-DefaultNonceLife - time.Second))}), nil), req)
	wantCode(t, "stale nonce", err, CodeUseNonce)
	if _, err := v.Verify(c.proof(t, claims(map[string]any{"nonce": n.Issue(t0)}), nil), req); err != nil {
		t.Fatalf("fresh nonce: %v", err)
	}
}
