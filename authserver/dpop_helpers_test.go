package authserver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// dpopKey is a client's DPoP key pair, signing proofs as a client library would (RFC 9449
// §4.2), with jwx, apart from the server's verifier.
type dpopKey struct {
	priv crypto.Signer
	pub  jwk.Key
}

func newDPoPKey(t testing.TB) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, pub: pub}
}

// jkt is the key's RFC 7638 thumbprint: what cnf.jkt of a token bound to it must be.
func (k *dpopKey) jkt(t testing.TB) string {
	t.Helper()
	tp, err := k.pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proofOpts change a proof from the well-formed one: claims set or (nil) removed, the
// time it claims, the public key put in its header.
type proofOpts struct {
	claims map[string]any
	iat    time.Time
	jwk    jwk.Key
}

// proof signs a proof for a POST to htu at now (zero: the wall clock), with nonce when
// not empty.
func (k *dpopKey) proof(t testing.TB, htu, nonce string, o *proofOpts) string {
	t.Helper()
	if o == nil {
		o = &proofOpts{}
	}
	iat := o.iat
	if iat.IsZero() {
		iat = time.Now()
	}
	claims := map[string]any{"jti": randomJTI(t), "htm": http.MethodPost, "htu": htu, "iat": iat.Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	for name, v := range o.claims {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.pub
	if o.jwk != nil {
		pub = o.jwk
	}
	h := jws.NewHeaders()
	for name, v := range map[string]any{"typ": "dpop+jwt", "jwk": pub} {
		if err := h.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func randomJTI(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// postDPoP posts form to base+path with the given DPoP headers (none, one or several);
// with a secret the client authenticates by HTTP Basic, without one by client_id in the
// form (a public client).
func postDPoP(t testing.TB, base, path string, form url.Values, clientID, secret string, proofs ...string) tokenReply {
	t.Helper()
	if secret == "" && clientID != "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	for _, p := range proofs {
		req.Header.Add(authserver.HeaderDPoP, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return tokenReply{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// wantDPoPBound fails unless r issued a DPoP token bound to key: token_type DPoP, and
// the JWT's cnf.jkt the key's thumbprint.
func wantDPoPBound(t *testing.T, f *fixture, what string, r tokenReply, key *dpopKey) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["token_type"] != "DPoP" {
		t.Fatalf("%s: %d %v, want a DPoP token", what, r.Status, r.Body)
	}
	_, cl := f.claims(r.Body["access_token"].(string))
	cnf, _ := cl["cnf"].(map[string]any)
	if cnf == nil || cnf["jkt"] != key.jkt(t) {
		t.Fatalf("%s: cnf %v, want jkt %s", what, cl["cnf"], key.jkt(t))
	}
}

// wantBearer fails unless r issued an unbound bearer token.
func wantBearer(t *testing.T, f *fixture, what string, r tokenReply) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["token_type"] != "Bearer" {
		t.Fatalf("%s: %d %v, want a Bearer token", what, r.Status, r.Body)
	}
	if _, cl := f.claims(r.Body["access_token"].(string)); cl["cnf"] != nil {
		t.Fatalf("%s: a bearer token with cnf %v", what, cl["cnf"])
	}
}

// otherRing is a key ring with a key of its own, as another deployment has.
func otherRing(t testing.TB) *keys.Ring {
	t.Helper()
	rec, err := keys.Generate(keys.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{}
	if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	return ring
}

// rotate makes a new access-token signing key in f's store and loads it into f's ring.
func rotate(t testing.TB, f *fixture) {
	t.Helper()
	ctx := context.Background()
	if _, err := keys.Rotate(ctx, f.st, keys.ES256, store.KeyPurposeAccess); err != nil {
		t.Fatal(err)
	}
	if err := keys.Reload(ctx, f.st, f.ring, time.Hour); err != nil {
		t.Fatal(err)
	}
}
