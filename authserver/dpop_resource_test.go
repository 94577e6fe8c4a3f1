package authserver_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/dpop"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

// The userinfo endpoint is a protected resource of the server itself: a DPoP-bound token
// is accepted there only as the guard accepts it (RFC 9449 §7): DPoP scheme, one proof
// by the token's key for this request (GET, the userinfo URL, the token's hash), once.
// Before, a stolen bound token read the user's claims as a bearer token.
func TestUserinfoChecksTheDPoPBinding(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
		form := pwDPoPForm()
		form.Set("scope", "openid email")
		tok := postDPoP(t, f.ts.URL, authserver.PathToken, form, "app", pwSecret, postProof(t, key, tokenHTU, ""))
		wantDPoPBound(t, f, "password grant", tok, key)
		at := tok.Body["access_token"].(string)
		const htu = testIssuer + authserver.PathUserinfo
		get := func(k *dpoptest.Key, changes map[string]any) string {
			return k.Proof(t, http.MethodGet, htu, at, time.Now(), changes)
		}
		call := func(scheme, token string, proofs ...string) rawReply {
			t.Helper()
			return getUserinfo(t, f.ts.URL, scheme, token, proofs...)
		}
		refused := func(what string, r rawReply, code string) {
			t.Helper()
			wantUserinfoDPoPRefusal(t, what, r, code)
		}

		refused("the bound token as Bearer", call("Bearer", at), "invalid_token")
		refused("DPoP without a proof", call("DPoP", at), dpop.CodeInvalidProof)
		refused("a proof of another key", call("DPoP", at, get(other, nil)), dpop.CodeInvalidProof)
		refused("a proof without ath", call("DPoP", at, get(key, map[string]any{"ath": nil})), dpop.CodeInvalidProof)
		refused("a proof for POST", call("DPoP", at, get(key, map[string]any{"htm": http.MethodPost})), dpop.CodeInvalidProof)
		refused("a proof for the token endpoint", call("DPoP", at, key.Proof(t, http.MethodGet, tokenHTU, at, time.Now(), nil)), dpop.CodeInvalidProof)
		refused("two proofs", call("DPoP", at, get(key, nil), get(key, nil)), dpop.CodeInvalidProof)

		good := get(key, nil)
		if r := call("DPoP", at, good); r.Status != http.StatusOK || r.Body["sub"] == nil || r.Body["email"] != userEmail {
			t.Fatalf("a good DPoP request: %d %s", r.Status, r.Raw)
		}
		refused("the same proof again", call("DPoP", at, good), dpop.CodeInvalidProof)

		// An unbound token is a bearer token, not a DPoP one.
		bearer := postDPoP(t, f.ts.URL, authserver.PathToken, form, "app", pwSecret)
		wantBearer(t, f, "no proof", bearer)
		bt := bearer.Body["access_token"].(string)
		refused("an unbound token with the DPoP scheme", call("DPoP", bt, get(key, map[string]any{"ath": dpop.AccessTokenHash(bt)})), "invalid_token")
		if r := call("Bearer", bt); r.Status != http.StatusOK {
			t.Errorf("the unbound token as Bearer: %d %s", r.Status, r.Raw)
		}
	})
}

// A resource server authenticating by token at introspection presents a bearer
// credential: a DPoP-bound token of its own is refused there (it would drop the binding);
// its client credentials still work.
func TestBoundTokenCannotAuthenticateAResourceServer(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, _ := f.userTokens()
		key := dpoptest.NewKey(t)
		rs := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "rs", rsSecret, postProof(t, key, tokenHTU, ""))
		wantDPoPBound(t, f, "the resource server's token", rs, key)
		if r := f.introspect(access, bearer(rs.Body["access_token"].(string))); r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_token" {
			t.Errorf("a DPoP-bound token as the caller's credential: %d %s", r.Status, r.Raw)
		}
		if r := f.introspect(access, basic("rs", rsSecret)); r.Status != http.StatusOK || r.Body["active"] != true {
			t.Errorf("the same caller with its secret: %d %s", r.Status, r.Raw)
		}
	})
}

// A certificate-bound token reads userinfo only over TLS with its certificate (RFC 8705
// §3), as at the guard.
func TestUserinfoChecksTheCertificateBinding(t *testing.T) {
	eachMTLSStore(t, func(t *testing.T, m *mtlsSetup) {
		ctx := context.Background()
		app, err := m.st.GetClient(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		app.CertBoundTokens = true
		if err := m.st.UpsertClient(ctx, app); err != nil {
			t.Fatal(err)
		}
		certA, certB := selfSignedCert(t, newP256(t)), selfSignedCert(t, newP256(t))
		form := pwDPoPForm()
		form.Set("scope", "openid email")
		tok := mtlsPost(t, m.tls, &certA, authserver.PathToken, form, basic("app", pwSecret))
		if tok.Status != http.StatusOK {
			t.Fatalf("token: %d %s", tok.Status, tok.Raw)
		}
		auth := "Bearer " + tok.Body["access_token"].(string)
		if r := mtlsPost(t, m.tls, &certA, authserver.PathUserinfo, url.Values{}, auth); r.Status != http.StatusOK || r.Body["email"] != userEmail {
			t.Fatalf("with its certificate: %d %s", r.Status, r.Raw)
		}
		for name, cert := range map[string]*tls.Certificate{"another certificate": &certB, "no certificate": nil} {
			r := mtlsPost(t, m.tls, cert, authserver.PathUserinfo, url.Values{}, auth)
			if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_token" ||
				!strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Bearer realm="userinfo", error="invalid_token"`) {
				t.Errorf("%s: %d %s %q", name, r.Status, r.Raw, r.Header.Get("WWW-Authenticate"))
			}
		}
	})
}

// getUserinfo GETs base's userinfo with `Authorization: <scheme> <token>` and one DPoP
// header per proof.
func getUserinfo(t *testing.T, base, scheme, token string, proofs ...string) rawReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+authserver.PathUserinfo, nil)
	req.Header.Set("Authorization", scheme+" "+token)
	for _, p := range proofs {
		req.Header.Add(authserver.HeaderDPoP, p)
	}
	return doRaw(t, http.DefaultClient, req)
}

// wantUserinfoDPoPRefusal fails unless r is userinfo's 401 with code in the body and in
// a DPoP challenge that names the proof algorithms (RFC 9449 §7.1).
func wantUserinfoDPoPRefusal(t *testing.T, what string, r rawReply, code string) {
	t.Helper()
	challenge := r.Header.Get("WWW-Authenticate")
	if r.Status != http.StatusUnauthorized || r.Body["error"] != code ||
		!strings.HasPrefix(challenge, `DPoP realm="userinfo", error="`+code+`"`) || !strings.Contains(challenge, `algs="ES256`) {
		t.Errorf("%s: %d %s, challenge %q; want 401 %s with a DPoP challenge", what, r.Status, r.Raw, challenge, code)
	}
}

// With dpop_nonce, userinfo wants a server nonce in the proof as the token endpoint does
// (RFC 9449 §9): 401 use_dpop_nonce with a DPoP-Nonce to retry with, and every answer to
// a DPoP request carries the next one.
func TestUserinfoAsksForADPoPNonce(t *testing.T) {
	eachStoreWith(t, func(c *authserver.Config) { c.RequireDPoPNonce = true }, func(t *testing.T, f *fixture) {
		key := dpoptest.NewKey(t)
		form := pwDPoPForm()
		form.Set("scope", "openid")
		first := postDPoP(t, f.ts.URL, authserver.PathToken, form, "app", pwSecret, postProof(t, key, tokenHTU, ""))
		nonce := first.Header.Get(authserver.HeaderDPoPNonce)
		tok := postDPoP(t, f.ts.URL, authserver.PathToken, form, "app", pwSecret, postProof(t, key, tokenHTU, nonce))
		wantDPoPBound(t, f, "password grant with the nonce", tok, key)
		at := tok.Body["access_token"].(string)
		const htu = testIssuer + authserver.PathUserinfo
		r := getUserinfo(t, f.ts.URL, "DPoP", at, key.Proof(t, http.MethodGet, htu, at, time.Now(), nil))
		wantUserinfoDPoPRefusal(t, "a proof without a nonce", r, dpop.CodeUseNonce)
		nonce = r.Header.Get(authserver.HeaderDPoPNonce)
		if nonce == "" {
			t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
		}
		r = getUserinfo(t, f.ts.URL, "DPoP", at, key.Proof(t, http.MethodGet, htu, at, time.Now(), map[string]any{"nonce": nonce}))
		if r.Status != http.StatusOK || r.Body["sub"] == nil || r.Header.Get(authserver.HeaderDPoPNonce) == "" {
			t.Fatalf("the retry with the nonce: %d %s, DPoP-Nonce %q", r.Status, r.Raw, r.Header.Get(authserver.HeaderDPoPNonce))
		}
	})
}
