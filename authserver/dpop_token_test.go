package authserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/dpop"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
	"github.com/caddyoauth/caddy-oauth/store"
)

// tokenHTU is the token endpoint as the fixture's metadata publishes it, which a proof
// names: the configured issuer's, not the test server's address.
const tokenHTU = testIssuer + authserver.PathToken

var (
	ccDPoPForm = func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }
	pwDPoPForm = func() url.Values {
		return url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}
	}
	refreshForm = func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
)

// Every grant of the token endpoint binds its access token to the key of the request's
// proof (RFC 9449 §5): token_type DPoP, cnf.jkt its thumbprint, and introspection says
// so; a request without a proof still gets a bearer token.
func TestDPoPBindsTheTokensOfEveryGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		key := dpoptest.NewKey(t)
		cc := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "svc", ccSecret, postProof(t, key, tokenHTU, ""))
		wantDPoPBound(t, f, "client_credentials", cc, key)
		pw := postDPoP(t, f.ts.URL, authserver.PathToken, pwDPoPForm(), "app", pwSecret, postProof(t, key, tokenHTU, ""))
		wantDPoPBound(t, f, "password", pw, key)
		rf := postDPoP(t, f.ts.URL, authserver.PathToken, refreshForm(pw.Body["refresh_token"].(string)), "app", pwSecret,
			postProof(t, key, tokenHTU, ""))
		wantDPoPBound(t, f, "refresh_token", rf, key)

		in := f.introspect(cc.Body["access_token"].(string), basic("rs", rsSecret))
		cnf, _ := in.Body["cnf"].(map[string]any)
		if in.Body["active"] != true || in.Body["token_type"] != "DPoP" || cnf == nil || cnf["jkt"] != key.JKT {
			t.Errorf("introspection of a DPoP token: %s", in.Raw)
		}
		bearer := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "svc", ccSecret)
		wantBearer(t, f, "no proof", bearer)
		if in := f.introspect(bearer.Body["access_token"].(string), basic("rs", rsSecret)); in.Body["token_type"] != "Bearer" || in.Body["cnf"] != nil {
			t.Errorf("introspection of a bearer token: %s", in.Raw)
		}

		s := browserSite(t, f, nil)
		code := s.browser(t).codeFor(spaQuery())
		ac := postDPoP(t, s.url, authserver.PathToken, codeForm(code), "spa", "", postProof(t, key, s.url+authserver.PathToken, ""))
		wantDPoPBound(t, f, "authorization_code", ac, key)
	})
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}}
}

func TestDPoPBindsDeviceCodeTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := deviceSite(t, f, nil)
		deviceCode, userCode := s.newDeviceCode("orders:read")
		s.approveDevice(t, userCode)
		key := dpoptest.NewKey(t)
		r := postDPoP(t, s.url, authserver.PathToken, url.Values{"grant_type": {authserver.GrantDeviceCode}, "device_code": {deviceCode}},
			"tv", "", postProof(t, key, s.url+authserver.PathToken, ""))
		wantDPoPBound(t, f, "device_code", r, key)
	})
}

// Proofs that fail a check of RFC 9449 §4.3 are refused with invalid_dpop_proof before
// any grant work: nothing is issued or stored.
func TestDPoPProofsThatFailACheckAreRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
		now := time.Now()
		for _, tc := range []struct {
			name   string
			proofs []string
		}{
			{"a proof for another endpoint", []string{postProof(t, key, testIssuer+authserver.PathIntrospect, "")}},
			{"a proof for another host", []string{postProof(t, key, "https://evil.test"+authserver.PathToken, "")}},
			{"a proof for the address instead of the published URL", []string{postProof(t, key, f.ts.URL+authserver.PathToken, "")}},
			{"a proof for another method", []string{key.Proof(t, http.MethodGet, tokenHTU, "", time.Now(), nil)}},
			{"a proof signed by a key other than its jwk", []string{key.Sign(t, dpoptest.Claims(http.MethodPost, tokenHTU, "", time.Now(), nil), map[string]any{"jwk": other.Public})}},
			{"a proof made two minutes ago", []string{key.Proof(t, http.MethodPost, tokenHTU, "", now.Add(-2*time.Minute), nil)}},
			{"a proof made two minutes ahead", []string{key.Proof(t, http.MethodPost, tokenHTU, "", now.Add(2*time.Minute), nil)}},
			{"a proof without jti", []string{key.Proof(t, http.MethodPost, tokenHTU, "", time.Now(), map[string]any{"jti": nil})}},
			{"a proof without iat", []string{key.Proof(t, http.MethodPost, tokenHTU, "", time.Now(), map[string]any{"iat": nil})}},
			{"not a JWT", []string{"not-a-proof"}},
			{"an empty header", []string{""}},
			{"two DPoP headers", []string{postProof(t, key, tokenHTU, ""), postProof(t, key, tokenHTU, "")}},
		} {
			before := f.dump()
			r := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "svc", ccSecret, tc.proofs...)
			wantError(t, tc.name, r, http.StatusBadRequest, dpop.CodeInvalidProof)
			if r.Body["access_token"] != nil || f.dump() != before {
				t.Errorf("%s: the refusal changed the store", tc.name)
			}
		}
		// The published URL in another spelling is the same URL (RFC 3986 §6.2.2, §6.2.3).
		same := postProof(t, key, "HTTPS://Auth.Test:443/oauth/./token", "")
		wantDPoPBound(t, f, "an equivalent spelling of the token endpoint", postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "svc", ccSecret, same), key)
	})
}

// A proof is accepted once (RFC 9449 §11.1), by whichever node sees it first: its jti is
// recorded in the shared store, so a second server on the same store refuses it too.
func TestDPoPProofIsAcceptedOnceAcrossNodes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		second, err := authserver.New(f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts2 := httptest.NewServer(second)
		t.Cleanup(ts2.Close)
		key := dpoptest.NewKey(t)
		use := func(base, proof string) tokenReply {
			return postDPoP(t, base, authserver.PathToken, ccDPoPForm(), "svc", ccSecret, proof)
		}
		p := postProof(t, key, tokenHTU, "")
		wantDPoPBound(t, f, "first use", use(f.ts.URL, p), key)
		wantError(t, "the same proof again", use(f.ts.URL, p), http.StatusBadRequest, dpop.CodeInvalidProof)
		wantError(t, "the same proof at another node", use(ts2.URL, p), http.StatusBadRequest, dpop.CodeInvalidProof)
		p2 := postProof(t, key, tokenHTU, "")
		wantDPoPBound(t, f, "a new proof at the other node", use(ts2.URL, p2), key)
		wantError(t, "that proof back at the first node", use(f.ts.URL, p2), http.StatusBadRequest, dpop.CodeInvalidProof)
		// A proof spent on a request the grant refused stays spent.
		p3 := postProof(t, key, tokenHTU, "")
		bad := ccDPoPForm()
		bad.Set("scope", "nope")
		wantError(t, "a refused grant", postDPoP(t, f.ts.URL, authserver.PathToken, bad, "svc", ccSecret, p3), http.StatusBadRequest, "invalid_scope")
		wantError(t, "its proof again", use(ts2.URL, p3), http.StatusBadRequest, dpop.CodeInvalidProof)
	})
}

// A client assertion may not take a jti of the form DPoP proofs are recorded under, so
// the two never collide in the store.
func TestClientAssertionMayNotUseTheDPoPReplayNamespace(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	eachStore(t, func(t *testing.T, f *fixture) {
		keyClients(t, f, k1, k2)
		a := k1.sign(t, with(claimsFor("kjwt", tokenAud), map[string]any{"jti": "dpop:" + dpoptest.NewKey(t).JKT + ":x"}))
		r := f.post(assertionForm(a, ccForm), "", "")
		wantError(t, "assertion in the DPoP namespace", r, http.StatusUnauthorized, "invalid_client")
	})
}

// A public client's refresh token is bound to the key of the proof it was issued with
// (RFC 9449 §5): refreshing needs a proof of that key. A refusal does not revoke the
// token: whoever lacks the key cannot use it, and revoking would hand anyone who saw the
// token a way to sign the user out.
func TestPublicClientRefreshTokenNeedsItsDPoPKey(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
		htu := s.url + authserver.PathToken
		tok := postDPoP(t, s.url, authserver.PathToken, codeForm(s.browser(t).codeFor(spaQuery())), "spa", "", postProof(t, key, htu, ""))
		wantDPoPBound(t, f, "code exchange", tok, key)
		rt := tok.Body["refresh_token"].(string)
		refresh := func(proofs ...string) tokenReply {
			return postDPoP(t, s.url, authserver.PathToken, refreshForm(rt), "spa", "", proofs...)
		}
		before := f.dump()
		wantError(t, "another key", refresh(postProof(t, other, htu, "")), http.StatusBadRequest, "invalid_grant")
		wantError(t, "no proof", refresh(), http.StatusBadRequest, "invalid_grant")
		// The other key's proof is recorded as spent; nothing else changed.
		if got := withoutProofRecords(f.dump()); got != withoutProofRecords(before) {
			t.Errorf("wrong-key refreshes changed the store:\n%s\n---\n%s", before, got)
		}
		first := rt
		r := refresh(postProof(t, key, htu, ""))
		wantDPoPBound(t, f, "the right key", r, key)
		rt = r.Body["refresh_token"].(string)
		wantError(t, "the rotated token with another key", refresh(postProof(t, other, htu, "")), http.StatusBadRequest, "invalid_grant")

		// The retired first token, stolen and replayed without its key: refused, and the
		// family stands (reuse detection must not let a thief without the key sign the
		// user out).
		replay := func(proofs ...string) tokenReply {
			return postDPoP(t, s.url, authserver.PathToken, refreshForm(first), "spa", "", proofs...)
		}
		wantError(t, "the retired token without a proof", replay(), http.StatusBadRequest, "invalid_grant")
		wantError(t, "the retired token with another key", replay(postProof(t, other, htu, "")), http.StatusBadRequest, "invalid_grant")
		next := refresh(postProof(t, key, htu, ""))
		wantDPoPBound(t, f, "the rotated token with its key", next, key)
		// Its holder reusing it is reuse: the family is revoked.
		wantError(t, "the retired token with its key", replay(postProof(t, key, htu, "")), http.StatusBadRequest, "invalid_grant")
		rt = next.Body["refresh_token"].(string)
		wantError(t, "the family after the holder's reuse", refresh(postProof(t, key, htu, "")), http.StatusBadRequest, "invalid_grant")
	})
}

// withoutProofRecords drops the rows of spent proofs and assertions from a store
// fingerprint.
func withoutProofRecords(dump string) string {
	var keep []string
	for _, line := range strings.Split(dump, "\n") {
		if !strings.HasPrefix(line, "client_assertion_jtis") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// A confidential client's refresh token is bound to the client's credentials, not to a
// DPoP key (RFC 9449 §5): it may refresh with a new key, or none, and the new access
// token is bound to whatever the refresh request proves.
func TestConfidentialClientRefreshMayChangeOrDropTheDPoPKey(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		key1, key2 := dpoptest.NewKey(t), dpoptest.NewKey(t)
		pw := postDPoP(t, f.ts.URL, authserver.PathToken, pwDPoPForm(), "app", pwSecret, postProof(t, key1, tokenHTU, ""))
		wantDPoPBound(t, f, "password grant", pw, key1)
		r1 := postDPoP(t, f.ts.URL, authserver.PathToken, refreshForm(pw.Body["refresh_token"].(string)), "app", pwSecret, postProof(t, key2, tokenHTU, ""))
		wantDPoPBound(t, f, "refresh with a new key", r1, key2)
		r2 := postDPoP(t, f.ts.URL, authserver.PathToken, refreshForm(r1.Body["refresh_token"].(string)), "app", pwSecret)
		wantBearer(t, f, "refresh without a proof", r2)
	})
}

// dpop_jkt at the authorization endpoint (RFC 9449 §10) binds the code to a key: carried
// through login and consent, kept on the code, and its exchange needs a proof of that
// key. A malformed dpop_jkt is refused.
func TestDPoPJKTBindsTheAuthorizationCode(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
		htu := s.url + authserver.PathToken
		q := spaQuery()
		q.Set("dpop_jkt", key.JKT)
		b := s.browser(t)
		loc := b.authorize(q).location(t)
		returnTo := loc.Query().Get("return_to")
		if loc.Path != authserver.PathLogin || !strings.Contains(returnTo, "dpop_jkt="+key.JKT) {
			t.Fatalf("the way to login drops dpop_jkt: %s", loc)
		}
		consent := b.get(b.login(returnTo).location(t).RequestURI())
		if !strings.Contains(consent.body, `name="dpop_jkt"`) {
			t.Fatalf("the consent form drops dpop_jkt: %.1500s", consent.body)
		}
		code := b.decide(q, consent, "approve").location(t).Query().Get("code")
		exchange := func(proofs ...string) tokenReply {
			return postDPoP(t, s.url, authserver.PathToken, codeForm(code), "spa", "", proofs...)
		}
		wantError(t, "exchange without a proof", exchange(), http.StatusBadRequest, "invalid_grant")
		wantError(t, "exchange with another key", exchange(postProof(t, other, htu, "")), http.StatusBadRequest, "invalid_grant")
		wantDPoPBound(t, f, "exchange with the key", exchange(postProof(t, key, htu, "")), key)

		for _, bad := range []string{"short", key.JKT + "A", strings.Repeat("*", 43), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} {
			q := spaQuery()
			q.Set("dpop_jkt", bad)
			if loc := b.authorize(q).location(t); loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
				t.Errorf("dpop_jkt %q: %s", bad, loc)
			}
		}
	})
}

// A DPoP proof sent with a pushed authorization request binds the code as dpop_jkt does
// (RFC 9449 §10.1); a proof for another endpoint, or one that disagrees with the
// request's dpop_jkt, is refused.
func TestDPoPProofAtPARBindsTheCode(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
		parHTU, htu := s.url+authserver.PathPAR, s.url+authserver.PathToken
		r := postDPoP(t, s.url, authserver.PathPAR, spaQuery(), "spa", "", postProof(t, key, parHTU, ""))
		if r.Status != http.StatusCreated {
			t.Fatalf("push with a proof: %d %v", r.Status, r.Body)
		}
		code := s.browser(t).codeFor(byRequestURI("spa", r.Body["request_uri"].(string)))
		exchange := func(proofs ...string) tokenReply {
			return postDPoP(t, s.url, authserver.PathToken, codeForm(code), "spa", "", proofs...)
		}
		wantError(t, "exchange without a proof", exchange(), http.StatusBadRequest, "invalid_grant")
		wantError(t, "exchange with another key", exchange(postProof(t, other, htu, "")), http.StatusBadRequest, "invalid_grant")
		wantDPoPBound(t, f, "exchange with the pushed key", exchange(postProof(t, key, htu, "")), key)

		before := withoutProofRecords(f.dump())
		mismatch := spaQuery()
		mismatch.Set("dpop_jkt", other.JKT)
		wantError(t, "dpop_jkt of another key than the proof's", postDPoP(t, s.url, authserver.PathPAR, mismatch, "spa", "", postProof(t, key, parHTU, "")),
			http.StatusBadRequest, dpop.CodeInvalidProof)
		wantError(t, "a token endpoint proof at PAR", postDPoP(t, s.url, authserver.PathPAR, spaQuery(), "spa", "", postProof(t, key, htu, "")),
			http.StatusBadRequest, dpop.CodeInvalidProof)
		same := spaQuery()
		same.Set("dpop_jkt", key.JKT)
		if r := postDPoP(t, s.url, authserver.PathPAR, same, "spa", "", postProof(t, key, parHTU, "")); r.Status != http.StatusCreated {
			t.Errorf("dpop_jkt matching the proof: %d %v", r.Status, r.Body)
		}
		if got := withoutProofRecords(f.dump()); strings.Count(got, "pushed_authorization_requests") != strings.Count(before, "pushed_authorization_requests")+1 {
			t.Error("a refused push was stored")
		}
	})
}

// A client registered with require_dpop (dpop_bound_access_tokens, RFC 9449 §5.2) gets
// nothing without a proof.
func TestRequireDPoPClientWithoutProofIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec, secret, err := authserver.NewClient(authserver.ClientSpec{ID: "bound", GenerateSecret: true, RequireDPoP: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateClient(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		before := f.dump()
		r := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "bound", secret)
		wantError(t, "require_dpop client without a proof", r, http.StatusBadRequest, dpop.CodeInvalidProof)
		if f.dump() != before {
			t.Error("the refusal changed the store")
		}
		key := dpoptest.NewKey(t)
		wantDPoPBound(t, f, "with a proof", postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "bound", secret, postProof(t, key, tokenHTU, "")), key)
	})
}

// With RequireDPoPNonce (RFC 9449 §8) a proof needs a nonce the server issued: the first
// request gets use_dpop_nonce and a DPoP-Nonce, the retry passes and gets the next
// nonce; every node on the same keys accepts it; a nonce MACed with other keys, or one
// two key rotations old, is refused with a fresh nonce. PAR requires it too.
func TestDPoPNonceFlow(t *testing.T) {
	eachStoreWith(t, func(c *authserver.Config) { c.RequireDPoPNonce = true }, func(t *testing.T, f *fixture) {
		key := dpoptest.NewKey(t)
		cc := func(base, nonce string) tokenReply {
			return postDPoP(t, base, authserver.PathToken, ccDPoPForm(), "svc", ccSecret, postProof(t, key, tokenHTU, nonce))
		}
		wantNonceError := func(what string, r tokenReply) string {
			t.Helper()
			wantError(t, what, r, http.StatusBadRequest, dpop.CodeUseNonce)
			n := r.Header.Get(authserver.HeaderDPoPNonce)
			if n == "" {
				t.Fatalf("%s: no DPoP-Nonce header", what)
			}
			return n
		}
		nonce := wantNonceError("a proof without a nonce", cc(f.ts.URL, ""))
		r := cc(f.ts.URL, nonce)
		wantDPoPBound(t, f, "the retry with the nonce", r, key)
		next := r.Header.Get(authserver.HeaderDPoPNonce)
		if next == "" {
			t.Fatal("a successful answer carries no DPoP-Nonce")
		}
		wantNonceError("a made-up nonce", cc(f.ts.URL, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
		// A refusal for another reason carries the next nonce too.
		bad := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "svc", ccSecret, postProof(t, key, testIssuer+"/elsewhere", next))
		wantError(t, "a proof for another URL", bad, http.StatusBadRequest, dpop.CodeInvalidProof)
		if bad.Header.Get(authserver.HeaderDPoPNonce) == "" {
			t.Error("an invalid_dpop_proof answer carries no DPoP-Nonce")
		}
		// Bearer requests are not concerned.
		if r := postDPoP(t, f.ts.URL, authserver.PathToken, ccDPoPForm(), "svc", ccSecret); r.Status != http.StatusOK || r.Header.Get(authserver.HeaderDPoPNonce) != "" {
			t.Errorf("a request without a proof: %d, DPoP-Nonce %q", r.Status, r.Header.Get(authserver.HeaderDPoPNonce))
		}

		second, err := authserver.New(f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts2 := httptest.NewServer(second)
		t.Cleanup(ts2.Close)
		wantDPoPBound(t, f, "another node accepts the nonce", cc(ts2.URL, next), key)

		// A server whose signing key is another one (another deployment).
		foreign := f.cfg
		foreign.Keys = otherRing(t)
		srv3, err := authserver.New(foreign)
		if err != nil {
			t.Fatal(err)
		}
		ts3 := httptest.NewServer(srv3)
		t.Cleanup(ts3.Close)
		foreignNonce := wantNonceError("at the other deployment", cc(ts3.URL, ""))
		wantNonceError("its nonce here", cc(f.ts.URL, foreignNonce))

		// A rotation: the previous key's nonces still pass (other nodes may not have
		// rotated yet); two rotations later they are refused and the client retries.
		old := wantNonceError("before the rotation", cc(f.ts.URL, ""))
		old2 := wantNonceError("before the rotation", cc(f.ts.URL, ""))
		rotate(t, f)
		wantDPoPBound(t, f, "a nonce of the previous key", cc(f.ts.URL, old), key)
		rotate(t, f)
		fresh := wantNonceError("a nonce two rotations old", cc(f.ts.URL, old2))
		wantDPoPBound(t, f, "the retry", cc(f.ts.URL, fresh), key)

		// PAR asks for the nonce too.
		s := browserSite(t, f, nil)
		parHTU := s.url + authserver.PathPAR
		n := wantNonceError("a push without a nonce", postDPoP(t, s.url, authserver.PathPAR, spaQuery(), "spa", "", postProof(t, key, parHTU, "")))
		if r := postDPoP(t, s.url, authserver.PathPAR, spaQuery(), "spa", "", postProof(t, key, parHTU, n)); r.Status != http.StatusCreated || r.Header.Get(authserver.HeaderDPoPNonce) == "" {
			t.Errorf("a push with the nonce: %d %v %v", r.Status, r.Header, r.Body)
		}
	})
}

// The metadata lists the algorithms a proof may use (RFC 9449 §5.1).
func TestMetadataListsDPoPAlgorithms(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		resp, err := http.Get(f.ts.URL + authserver.PathMetadata)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md struct {
			Algs []string `json:"dpop_signing_alg_values_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(md.Algs, dpop.Algorithms) || slices.Contains(md.Algs, "HS256") || slices.Contains(md.Algs, "none") {
			t.Errorf("dpop_signing_alg_values_supported = %v", md.Algs)
		}
	})
}

// A require_dpop client cannot get a bearer token through the implicit grant's fragment
// either: the authorization endpoint refuses it (unauthorized_client) before any token.
func TestRequireDPoPClientHasNoImplicitSideDoor(t *testing.T) {
	// Nor a client whose tokens are bound to its certificate (RFC 8705 §3).
	for name, bind := range map[string]func(*store.Client){
		"require_dpop":             func(c *store.Client) { c.RequireDPoP = true },
		"certificate_bound_tokens": func(c *store.Client) { c.CertBoundTokens = true },
	} {
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, f *fixture) {
				s := browserSite(t, f, func(c *authserver.Config) { c.ImplicitGrant = true })
				ctx := context.Background()
				imp, err := f.st.GetClient(ctx, "imp")
				if err != nil {
					t.Fatal(err)
				}
				bind(imp)
				if err := f.st.UpsertClient(ctx, imp); err != nil {
					t.Fatal(err)
				}
				b := s.browser(t)
				b.login("")
				before := f.dump()
				loc := b.authorize(impQuery()).location(t)
				frag, _ := url.ParseQuery(loc.Fragment)
				if frag.Get("error") != "unauthorized_client" || frag.Get("access_token") != "" {
					t.Fatalf("implicit request of a %s client: %s", name, loc)
				}
				if f.dump() != before {
					t.Error("the refusal changed the store")
				}
			})
		})
	}
}

// A user registers a client whose tokens must be DPoP-bound through the JSON API
// (dpop_bound_access_tokens, RFC 9449 §5.2), and may change it later: the token endpoint
// follows the stored setting (no proof: invalid_dpop_proof before the grant is looked at;
// with one, the made-up code is what fails).
func TestClientAPIRegistersDPoPBoundClients(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		var made struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
			DPoP   bool   `json:"dpop_bound_access_tokens"`
		}
		r := a.call("POST", authserver.PathClients, map[string]any{"name": "Bound", "redirect_uris": []string{"https://bound.app/cb"}, "dpop_bound_access_tokens": true}, nil)
		r.into(t, &made)
		if r.status != http.StatusCreated || !made.DPoP {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		key := dpoptest.NewKey(t)
		htu := s.url + authserver.PathToken
		exchange := func(proofs ...string) tokenReply {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {"made-up"}, "redirect_uri": {"https://bound.app/cb"}}
			return postDPoP(t, s.url, authserver.PathToken, form, made.ID, made.Secret, proofs...)
		}
		wantError(t, "bound client without a proof", exchange(), http.StatusBadRequest, dpop.CodeInvalidProof)
		wantError(t, "bound client with a proof", exchange(postProof(t, key, htu, "")), http.StatusBadRequest, "invalid_grant")

		// An update without the field leaves it; false lifts it.
		for _, tc := range []struct {
			body map[string]any
			want bool
		}{
			{map[string]any{"name": "Renamed", "redirect_uris": []string{"https://bound.app/cb"}}, true},
			{map[string]any{"name": "Renamed", "redirect_uris": []string{"https://bound.app/cb"}, "dpop_bound_access_tokens": false}, false},
		} {
			up := a.call("PUT", authserver.PathClients+"/"+made.ID, tc.body, nil)
			rec, err := f.st.GetClient(context.Background(), made.ID)
			if up.status != http.StatusOK || err != nil || rec.RequireDPoP != tc.want || !strings.Contains(up.raw, fmt.Sprintf(`"dpop_bound_access_tokens":%v`, tc.want)) {
				t.Fatalf("update %v: %d %s; stored %v %v", tc.body, up.status, up.raw, rec.RequireDPoP, err)
			}
		}
		wantError(t, "client no longer bound, without a proof", exchange(), http.StatusBadRequest, "invalid_grant")

		// Created without the field: not bound.
		var plain struct {
			DPoP *bool `json:"dpop_bound_access_tokens"`
		}
		p := a.call("POST", authserver.PathClients, map[string]any{"name": "Plain", "redirect_uris": []string{"https://plain.app/cb"}}, nil)
		p.into(t, &plain)
		if p.status != http.StatusCreated || plain.DPoP == nil || *plain.DPoP {
			t.Fatalf("plain client: %d %s", p.status, p.raw)
		}
	})
}
