package authserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// postProof is k's proof for a POST to htu made now, with nonce when not empty; a proof
// for a token or PAR request carries no ath (there is no token yet).
func postProof(t testing.TB, k *dpoptest.Key, htu, nonce string) string {
	t.Helper()
	var changes map[string]any
	if nonce != "" {
		changes = map[string]any{"nonce": nonce}
	}
	return k.Proof(t, http.MethodPost, htu, "", time.Now(), changes)
}

// postDPoP posts form to base+path with the given DPoP headers (none, one or several);
// with a secret the client authenticates by HTTP Basic, without one by client_id in the
// form (a public client).
func postDPoP(t testing.TB, base, path string, form url.Values, clientID, secret string, proofs ...string) tokenReply {
	t.Helper()
	return postFrom(t, base, path, "", form, clientID, secret, proofs...)
}

// postFrom is postDPoP sent as a page of origin would send it (the Origin header; none
// when origin is "").
func postFrom(t testing.TB, base, path, origin string, form url.Values, clientID, secret string, proofs ...string) tokenReply {
	t.Helper()
	if secret == "" && clientID != "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
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
func wantDPoPBound(t *testing.T, f *fixture, what string, r tokenReply, key *dpoptest.Key) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["token_type"] != "DPoP" {
		t.Fatalf("%s: %d %v, want a DPoP token", what, r.Status, r.Body)
	}
	_, cl := f.claims(r.Body["access_token"].(string))
	cnf, _ := cl["cnf"].(map[string]any)
	if cnf == nil || cnf["jkt"] != key.JKT {
		t.Fatalf("%s: cnf %v, want jkt %s", what, cl["cnf"], key.JKT)
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
